import Foundation
import TetherControl
import TetherCore
import TetherExport
import TetherProbe
import TetherResponse

/// What the daemon was started with (tetherd's flags).
struct DaemonConfig {
    var policyPath: String
    var eventsPath: String?
    var statusInterval: Double = 60
    /// bpffs directory for the tracked map, so sessions survive a restart (nil = not pinned).
    var pinDirectory: String? = "/sys/fs/bpf/tether"
    var ringBufferBytes: UInt32 = ProbeOptions().ringBufferBytes
    var controlPath: String? = ControlDefaults.socketPath
    var metricsAddress: String?
    var syslog: [(SyslogDestination, SyslogFormat.Style?)] = []
    var syslogFormat = SyslogFormat()
    var syslogOptions = SyslogSink.Options()
    var alertsJSON: String?
}

/// The daemon: probe, reader thread, process table, sessions, policy reloads, alert sinks,
/// control socket, service notifications. Lifecycle: init (load, attach, policy) →
/// `run` (READY, event loop petting the watchdog) → SIGTERM (drain, flush, exit 0).
final class Daemon: @unchecked Sendable {
    let config: DaemonConfig
    let probe: Probe
    let table = ProcessTable()
    let output: LineWriter?
    let hub: AlertHub
    let notifier = ServiceNotifier()
    private var reader: EventReader!
    private var control: ControlListener?
    private var metrics: MetricsServer?
    let started = Date()
    let hooksAttached: Int
    /// The kernel side speaks global pids; /proc, signals and peer credentials speak this
    /// process's pid namespace. Only in the initial one do they agree (a container does not).
    let pidsMatchKernel = Daemon.inInitialPidNamespace()

    static func inInitialPidNamespace() -> Bool {
        var st = stat()
        // PROC_PID_INIT_INO: the initial pid namespace's fixed inode number
        return stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == 0xEFFF_FFFC
    }

    private let lock = NSLock()
    private var events: UInt64 = 0
    private var sessions: [SessionID: (root: Int32, agent: String)] = [:]
    private var lastDrops: UInt64 = 0
    private var rate = RateWindow()

    /// The policy in force; replaced whole by a reload, under `policyLock`.
    private let policyLock = NSLock()
    private(set) var state: PolicyState
    var selectors: [AgentSelector] { state.selectors }
    private var compiled: AgentWatch.Compiled
    /// The process table and the classifier are used by the reader thread and the event
    /// loop's timer (time-based rules): one lock for both.
    private let pipelineLock = NSLock()
    let responder: Responder
    private(set) var policyLoadedAt = Date()
    private(set) var reloads: UInt64 = 0
    private(set) var rejectedReloads: UInt64 = 0

    init(config: DaemonConfig, state: PolicyState) throws {
        self.config = config
        self.state = state
        output = try config.eventsPath.map { try LineWriter(path: $0) }
        var opts = ProbeOptions()
        opts.pinDirectory = config.pinDirectory
        opts.ringBufferBytes = config.ringBufferBytes
        probe = try Probe(options: opts)
        var sinks: [AlertSink] = []
        if let j = config.alertsJSON { sinks.append(try JSONLinesSink(path: j)) }
        for (d, style) in config.syslog {
            sinks.append(SyslogSink(destination: d, format: d.format(config.syslogFormat, style: style), options: config.syslogOptions,
                                    onStateChange: { log($0) }))
        }
        hub = AlertHub(sinks: sinks)
        responder = Responder(control: SessionControl(probe: probe))
        let hooks = probe.hooks()
        hooksAttached = hooks.attached
        if !hooks.skipped.isEmpty { log("syscalls this architecture lacks, not watched: \(hooks.skipped.joined(separator: ", "))") }
        compiled = AgentWatch.compile(state.selectors)
        try AgentWatch.apply(compiled, replacing: nil, probe: probe)
        try dropStaleProtection(probe)
        try probe.protect(pid: getpid())
        let g = try state.guards.install(probe)
        log("kernel guards: \(state.guards.guards.rawValue == 0 ? "none" : "on") (\(g.inodes) protected inode(s), \(g.names) protected name(s), \(g.egressEntries) egress allow entries; \(g.absent.count) protected location(s) unguardable: neither they nor their directory exist)")
        for u in compiled.unresolved { log("warning: \(u)") }
        let i = compiled.installed
        if !pidsMatchKernel {
            log("warning: running in a child pid namespace (a container?): the kernel reports host pids, so adopting running agents, pruning exited members after a restart, refusing agent members on the control socket, and stop/kill/resume of sessions are off; run tetherd on the host")
        }
        log("watching \(state.selectors.count) agent(s): \(i.executables) executable(s), \(i.comms) command name(s), \(i.uids) uid(s), \(i.cgroups) cgroup(s); \(hooks.attached) hooks attached")
        responder.termGrace = { [unowned self] f in
            self.policyLock.lock()
            defer { self.policyLock.unlock() }
            return self.state.policy.agent(named: f.agent).termGrace
        }
        reader = EventReader(probe: probe, sink: { [unowned self] in self.handle(&$0) },
                             onCorrupt: { log("corrupt record skipped: \($0)") })
    }

    /// The pinned protected pids outlive the instance that added them: an earlier tetherd's
    /// pid, once dead and reused by an agent, would make signals among that agent's own
    /// processes look like tampering. Keep only live Tether processes.
    private func dropStaleProtection(_ probe: Probe) throws {
        for pid in try probe.protectedPids() where pid != getpid() {
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
            let name = (exe as NSString).lastPathComponent.replacingOccurrences(of: " (deleted)", with: "")
            if name == "tetherd" || name == "tether" { continue }
            try probe.protect(pid: pid, false)
            log("pid \(pid) was protected by an earlier instance and is \(exe.isEmpty ? "gone" : "now \(exe)"): no longer protected")
        }
    }

    private func handle(_ e: inout Event) {
        pipelineLock.lock()
        table.apply(&e)
        policyLock.lock()
        let classifier = state.classifier
        policyLock.unlock()
        let found = classifier.process(e, table: table)
        pipelineLock.unlock()
        respond(found)
        lock.lock()
        events += 1
        if e.kind == .exec && e.sessionStart {
            let agent = agentName(for: e)
            sessions[e.session] = (e.pid, agent)
            log("session \(e.session) started: agent \(agent), pid \(e.pid), \(e.path ?? e.comm)")
        } else if e.kind == .exit, let s = sessions[e.session], s.root == e.pid {
            log("session \(e.session) root \(e.pid) exited (code \(e.exitCode ?? 0)\(e.signal.map { ", signal \($0)" } ?? ""))")
        }
        let streams = eventStreams
        lock.unlock()
        let mine = streams.filter { $0.session == e.session }
        guard output != nil || !mine.isEmpty else { return }
        let line = EventJSON.encode(e)
        output?.write(line)
        for s in mine { s.offer(line) }
    }

    private var eventStreams: [EventStream] = []

    func addEventStream(_ s: EventStream) {
        lock.lock()
        eventStreams.append(s)
        lock.unlock()
    }

    func removeEventStream(_ s: EventStream) {
        lock.lock()
        eventStreams.removeAll { $0 === s }
        lock.unlock()
    }

    /// Which selector an exec that started a session matched, from the event itself.
    private func agentName(for e: Event) -> String {
        let sel = currentSelectors()
        if let path = e.path, let s = sel.first(where: { $0.exe.contains { $0.matches(path) } }) { return s.name }
        if let s = sel.first(where: { $0.comm.contains(e.comm) }) { return s.name }
        if let s = sel.first(where: { $0.uid.contains(e.uid) }) { return s.name }
        if pidsMatchKernel, let name = AgentWatch.match(pid: e.pid, sel) { return name }
        return sel.count == 1 ? sel[0].name : "?"
    }

    func currentSelectors() -> [AgentSelector] {
        policyLock.lock()
        defer { policyLock.unlock() }
        return state.selectors
    }

    /// Carries out each finding (in enforce mode) and raises it through every sink.
    private func respond(_ found: [Finding]) {
        for f in found {
            let outcome = responder.handle(f)
            alert(AlertRecord(f, outcome: outcome))
        }
    }

    /// Time-based rules (members outliving their session's root).
    private func tick() {
        pipelineLock.lock()
        policyLock.lock()
        let classifier = state.classifier
        policyLock.unlock()
        let found = classifier.tick(now: BootClock.nanoseconds(), table: table)
        pipelineLock.unlock()
        respond(found)
    }

    /// Raises an alert through every sink (the classifier's findings arrive here through
    /// the Finding → AlertRecord adapter; the daemon raises its own `tether.*` alerts).
    func alert(_ a: AlertRecord) {
        log("alert \(a.rule) [\(a.severity.rawValue)]\(a.session.isEmpty ? "" : " session \(a.session)"): \(a.message)")
        hub.publish(a)
    }

    // MARK: sessions across restarts

    /// With a pinned tracked map, sessions from before a restart are still there: prune
    /// members that exited while no daemon ran, and take in children they forked meanwhile
    /// (no program was attached to inherit them).
    func reconcilePinnedSessions() {
        guard let members = try? probe.trackedMembers(), !members.isEmpty else { return }
        guard pidsMatchKernel else {
            var roots: [SessionID: Int32] = [:]
            for m in members { roots[m.session] = m.root }
            lock.lock()
            for (s, r) in roots where sessions[s] == nil { sessions[s] = (r, "resumed") }
            lock.unlock()
            log("\(roots.count) session(s) with \(members.count) process(es) still tracked from before the restart (pinned map)")
            return
        }
        var live: [SessionID: (root: Int32, pids: Set<Int32>)] = [:]
        var pruned = 0
        for m in members {
            if kill(m.pid, 0) != 0 && errno == ESRCH {
                try? probe.untrack(pid: m.pid)
                pruned += 1
                continue
            }
            live[m.session, default: (m.root, [])].pids.insert(m.pid)
        }
        var added = 0
        let me = getpid()
        for (session, s) in live {
            var known = s.pids
            var frontier = Array(s.pids)
            while let p = frontier.popLast() {
                for c in ProcFS.descendants(of: p) where !known.contains(c) && c != me {
                    if probe.session(of: c) == nil {
                        try? probe.track(pid: c, session: session, root: s.root)
                        added += 1
                    }
                    known.insert(c)
                    frontier.append(c)
                }
            }
            for p in known { if let info = ProcFS.info(p, session: session) { table.insert(info) } }
            let agent = AgentWatch.match(pid: s.root, currentSelectors()) ?? (ProcFS.exe(s.root).map { ($0 as NSString).lastPathComponent } ?? "resumed")
            lock.lock()
            sessions[session] = (s.root, agent)
            lock.unlock()
            log("session \(session) tracked again after restart: \(known.count) process(es), root \(s.root)")
        }
        if pruned > 0 || added > 0 {
            log("pinned sessions: \(pruned) exited member(s) pruned, \(added) child(ren) forked while no daemon ran taken in")
        }
    }

    /// Tracks agents that were already running when the daemon started, with their descendants.
    func adoptRunning() {
        guard pidsMatchKernel else { return }
        let me = getpid()
        var adopted = 0
        let sel = currentSelectors()
        for pid in ProcFS.pids() where pid != me && probe.session(of: pid) == nil {
            guard let agent = AgentWatch.match(pid: pid, sel) else { continue }
            let target = sel.first { $0.name == agent }?.target ?? Probe.WatchTarget()
            let session = SessionID.random()
            for p in ProcFS.descendants(of: pid) where p != me {
                // pinned by a pidfd while it goes in: a pid that exits meanwhile is not left behind
                _ = try? probe.adopt(pid: p, session: session, root: pid, enforce: target.enforce, policy: target.policy)
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

    /// A session `tether run` started and handed over (already in the tracked map).
    func register(session: SessionID, root: Int32, label: String) {
        lock.lock()
        sessions[session] = (root, label)
        lock.unlock()
        if let info = ProcFS.info(root, session: session) { table.insert(info) }
        log("session \(session) registered by tether run: root \(root) (\(label))")
    }

    // MARK: reload

    /// Reads the policy again and swaps it in whole; a bad policy changes nothing, is
    /// logged and raised as an alert. The reader keeps draining throughout: no event is lost.
    @discardableResult
    func reload() -> Result<String, Error> {
        reloadLock.lock()
        defer { reloadLock.unlock() }
        notifier.reloading()
        let r = swapPolicy()
        notifier.ready(status: statusLine())
        return r
    }

    /// Serializes reloads; `policyLock` is only held for the swap, so the reader never waits on a reload.
    private let reloadLock = NSLock()

    private func swapPolicy() -> Result<String, Error> {
        hub.reopen()
        let path = config.policyPath
        let newState: PolicyState
        do {
            newState = try PolicyState.load(path: path, protectedPids: [getpid()])
        } catch {
            policyLock.lock()
            rejectedReloads += 1
            policyLock.unlock()
            log("reload rejected, keeping the previous policy: \(error)")
            hub.publish(AlertRecord(rule: "tether.policy_rejected", severity: .high,
                                    message: "policy reload rejected, the previous policy stays in force: \(error)",
                                    path: path, action: "alert"))
            return .failure(error)
        }
        let new = newState.selectors
        let c = AgentWatch.compile(new)
        policyLock.lock()
        let old = compiled
        policyLock.unlock()
        do {
            try AgentWatch.apply(c, replacing: old, probe: probe)
        } catch {
            // A map update failed midway: put the old policy back in full.
            let restore = Result { try AgentWatch.apply(old, replacing: c, probe: probe) }
            policyLock.lock()
            rejectedReloads += 1
            policyLock.unlock()
            log("reload failed installing the new policy (\(error)); previous policy \(restore.isSuccess ? "restored" : "could not be restored: \(restore)")")
            hub.publish(AlertRecord(rule: "tether.policy_rejected", severity: .high,
                                    message: "policy reload failed in the kernel maps: \(error)", path: path, action: "alert"))
            return .failure(error)
        }
        do {
            _ = try newState.guards.install(probe)
        } catch {
            log("warning: the new policy's kernel guards could not be installed: \(error)")
        }
        // sessions in flight keep their state: the new classifier adopts them on their next event
        policyLock.lock()
        state = newState
        compiled = c
        policyLoadedAt = Date()
        reloads += 1
        policyLock.unlock()
        for u in c.unresolved { log("warning: \(u)") }
        let i = c.installed
        let text = "policy reloaded from \(path): \(new.count) agent(s), \(i.executables) executable(s), \(i.comms) command name(s), \(i.uids) uid(s), \(i.cgroups) cgroup(s)"
        log(text)
        return .success(text)
    }

    // MARK: status

    func snapshot() -> DaemonStatus {
        let lost = (try? probe.stats())?.drops ?? lastDrops
        let members = (try? probe.tracked()) ?? []
        lock.lock()
        let n = events
        let perSecond = rate.perSecond
        lock.unlock()
        policyLock.lock()
        let agents = state.selectors.count, loadedAt = policyLoadedAt, r = reloads, rr = rejectedReloads
        policyLock.unlock()
        return DaemonStatus(pid: getpid(), uptimeSeconds: Date().timeIntervalSince(started), policy: config.policyPath,
                            policyLoadedAt: loadedAt, agents: agents, hooksAttached: hooksAttached,
                            sessions: Set(members.map(\.session)).count, trackedProcesses: members.count,
                            events: n, eventsPerSecond: perSecond, lostEvents: lost,
                            corruptRecords: reader.corrupt, alerts: hub.counts().total, reloads: r,
                            rejectedReloads: rr, sinks: hub.health())
    }

    func sessionList() -> [SessionInfo] {
        let members = (try? probe.trackedMembers()) ?? []
        var by: [SessionID: (root: Int32, pids: [Int32])] = [:]
        for m in members { by[m.session, default: (m.root, [])].pids.append(m.pid) }
        lock.lock()
        let known = sessions
        lock.unlock()
        return by.keys.sorted().map { s in
            let v = by[s]!
            let root = known[s]?.root ?? v.root
            return SessionInfo(session: s.description, agent: known[s]?.agent ?? "?", root: root,
                               rootAlive: v.pids.contains(root), members: v.pids.sorted(), rootExe: ProcFS.exe(root))
        }
    }

    func statusLine() -> String {
        let s = snapshot()
        return String(format: "%d session(s), %d process(es), %.0f events/s, %llu lost", s.sessions, s.trackedProcesses,
                      s.eventsPerSecond, s.lostEvents)
    }

    // MARK: run

    static func handledSignals() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&set, s) }
        return set
    }

    /// Called first thing in main, before any thread exists: every thread inherits the mask,
    /// so these signals wait for the event loop's sigtimedwait.
    static func blockHandledSignals() {
        var set = handledSignals()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    func run() throws -> Int32 {
        reader.start()
        reconcilePinnedSessions()
        adoptRunning()
        if let path = config.controlPath {
            let svc = ControlService(daemon: self)
            control = try ControlListener(path: path, authorize: { svc.authorize($0) },
                                          handle: { svc.handle($0, $1, $2) })
            control?.start()
            log("control socket \(path)")
        }
        if let m = config.metricsAddress {
            metrics = try MetricsServer(address: m, daemon: self)
            metrics?.start()
            log("metrics on http://\(m)/metrics")
        }

        // READY only now: programs attached, policy in the maps, running agents adopted.
        notifier.ready(status: statusLine())
        log("ready")
        var lastStatus = Date()
        var lastTurns = reader.turns
        var wait = timespec(tv_sec: 0, tv_nsec: 250_000_000)
        loop: while true {
            // SIGTERM/SIGINT/SIGHUP are blocked in every thread (see main) and taken here.
            var set = Daemon.handledSignals()
            let sig = sigtimedwait(&set, nil, &wait)
            switch sig {
            case SIGTERM, SIGINT: break loop
            case SIGHUP: reload()
            default: break
            }
            if let e = reader.pollError {
                log("event reader failed: \(e); exiting so the service manager restarts us")
                alert(AlertRecord(rule: "tether.reader_failed", severity: .critical,
                                  message: "tetherd's event reader failed (\(e)); the daemon exits and is restarted", action: "alert"))
                _ = hub.close(timeout: 2)
                return 70
            }
            // The watchdog is fed only while the reader thread is making progress.
            let turns = reader.turns
            if turns != lastTurns {
                notifier.petWatchdog()
                lastTurns = turns
            }
            lock.lock()
            rate.add(events)
            lock.unlock()
            output?.flush() // stdio locks the FILE: safe beside the reader thread's writes
            tick()
            checkDrops()
            if config.statusInterval > 0, Date().timeIntervalSince(lastStatus) >= config.statusInterval {
                let line = statusLine()
                log("status: \(line)")
                notifier.status(line)
                lastStatus = Date()
            }
        }
        log("stopping")
        notifier.stopping()
        control?.stop()
        metrics?.stop()
        reader.stop()
        checkDrops()
        for (name, left) in hub.close(timeout: 5) {
            log("warning: \(name): \(left) alert(s) undelivered at shutdown")
        }
        output?.close()
        if let f = output?.failure { log(f) }
        // A deliberate stop detaches the programs; the pinned maps keep the sessions for the
        // next start. (A crash leaves everything attached: the guards keep acting meanwhile.)
        do { try probe.unpinLinks() } catch { log("warning: \(error)") }
        probe.close()
        log("stopped")
        return 0
    }

    /// Lost events are never silent: each increase is logged with the per-CPU split and raised.
    private func checkDrops() {
        guard let s = try? probe.stats() else { return }
        if s.drops > lastDrops {
            let perCPU = (try? probe.dropsPerCPU()) ?? []
            let n = s.drops - lastDrops
            log("warning: \(n) events lost (ring buffer full); total \(s.drops), per CPU: \(perCPU.map(String.init).joined(separator: " "))")
            hub.publish(AlertRecord(rule: "tether.events_lost", severity: .high,
                                    message: "\(n) kernel events lost (ring buffer full); \(s.drops) in total",
                                    action: "alert", details: ["lost": String(n), "lost_total": String(s.drops)]))
            lastDrops = s.drops
        }
    }
}

/// Events per second over the last few seconds.
struct RateWindow {
    private var samples: [(Date, UInt64)] = []
    mutating func add(_ total: UInt64) {
        let now = Date()
        samples.append((now, total))
        while let f = samples.first, now.timeIntervalSince(f.0) > 5 { samples.removeFirst() }
    }
    var perSecond: Double {
        guard let f = samples.first, let l = samples.last, l.0 > f.0 else { return 0 }
        return Double(l.1 - f.1) / l.0.timeIntervalSince(f.0)
    }
}

extension Result {
    var isSuccess: Bool { if case .success = self { return true } else { return false } }
}
