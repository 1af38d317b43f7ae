import Foundation
import TetherCore
import TetherProbe

/// The daemon's event loop: probe, reader thread, process table, sessions, status.
final class Daemon: @unchecked Sendable {
    let probe: Probe
    let selectors: [AgentSelector]
    let table = ProcessTable()
    let output: LineWriter?
    private var reader: EventReader!
    private let lock = NSLock()
    private var events: UInt64 = 0
    private var sessions: [SessionID: (root: Int32, agent: String)] = [:]
    private var lastDrops: UInt64 = 0

    init(selectors: [AgentSelector], eventsPath: String?) throws {
        self.selectors = selectors
        output = try eventsPath.map { try LineWriter(path: $0) }
        probe = try Probe()
        reader = EventReader(probe: probe, sink: { [unowned self] in self.handle(&$0) },
                             onCorrupt: { log("corrupt record skipped: \($0)") })
        let hooks = probe.hooks()
        if !hooks.skipped.isEmpty { log("syscalls this architecture lacks, not watched: \(hooks.skipped.joined(separator: ", "))") }
        let installed = try AgentWatch.install(selectors, probe: probe)
        for u in installed.unresolved { log("warning: \(u)") }
        log("watching \(selectors.count) agent(s): \(installed.executables) executable(s), \(installed.comms) command name(s), \(installed.uids) uid(s), \(installed.cgroups) cgroup(s); \(hooks.attached) hooks attached")
    }

    private func handle(_ e: inout Event) {
        table.apply(&e)
        lock.lock()
        events += 1
        if e.kind == .exec && e.sessionStart {
            let agent = AgentWatch.match(pid: e.pid, selectors) ?? "?"
            sessions[e.session] = (e.pid, agent)
            log("session \(e.session) started: agent \(agent), pid \(e.pid), \(e.path ?? e.comm)")
        } else if e.kind == .exit, let s = sessions[e.session], s.root == e.pid {
            log("session \(e.session) root \(e.pid) exited (code \(e.exitCode ?? 0)\(e.signal.map { ", signal \($0)" } ?? ""))")
        }
        lock.unlock()
        output?.write(EventJSON.encode(e))
    }

    /// Tracks agents that were already running when the daemon started, with their descendants.
    func adoptRunning() {
        let me = getpid()
        var adopted = 0
        for pid in ProcFS.pids() where pid != me && probe.session(of: pid) == nil {
            guard let agent = AgentWatch.match(pid: pid, selectors) else { continue }
            let session = SessionID.random()
            for p in ProcFS.descendants(of: pid) where p != me {
                try? probe.track(pid: p, session: session, root: pid)
                if let info = ProcFS.info(p, session: session) { table.insert(info) }
            }
            lock.lock()
            sessions[session] = (pid, agent)
            lock.unlock()
            adopted += 1
            log("session \(session) adopted: agent \(agent), running pid \(pid) (\(ProcFS.exe(pid) ?? "?"))")
        }
        if adopted == 0 { log("no matching agent was already running") }
    }

    func run(statusInterval: Double) {
        reader.start()
        adoptRunning()
        let stop = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop.signal() }
            s.resume()
            sources.append(s)
        }
        log("ready")
        var last = Date()
        var lastEvents: UInt64 = 0
        while stop.wait(timeout: .now() + .milliseconds(500)) == .timedOut {
            checkDrops()
            if let e = reader.pollError {
                log("event reader failed: \(e); exiting so the service manager restarts us")
                exit(70)
            }
            if statusInterval > 0, Date().timeIntervalSince(last) >= statusInterval {
                lock.lock()
                let n = events
                let live = Set(table.live.values.map(\.session)).count
                lock.unlock()
                let rate = Double(n - lastEvents) / Date().timeIntervalSince(last)
                log(String(format: "status: %llu events (%.0f/s), %d live session(s), %d tracked process(es), %llu lost", n, rate, live, table.count, lastDrops))
                last = Date()
                lastEvents = n
            }
        }
        log("stopping")
        reader.stop()
        output?.close()
        if let f = output?.failure { log(f) }
        checkDrops()
        probe.close()
        log("stopped")
    }

    /// Lost events are never silent: each increase is logged with the per-CPU split.
    private func checkDrops() {
        guard let s = try? probe.stats() else { return }
        if s.drops > lastDrops {
            let perCPU = (try? probe.dropsPerCPU()) ?? []
            log("warning: \(s.drops - lastDrops) events lost (ring buffer full); total \(s.drops), per CPU: \(perCPU.map(String.init).joined(separator: " "))")
            lastDrops = s.drops
        }
    }
}
