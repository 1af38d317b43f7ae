import ArgumentParser
import Foundation
import TetherControl
import TetherCore
import TetherProbe

struct TetherCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tether",
        abstract: "Run and watch AI agents under Tether.",
        subcommands: [Run.self, Watch.self, Replay.self, CheckPolicy.self, Status.self, Sessions.self, Alerts.self, Resume.self, Kill.self, Reload.self]
    )
}

/// Prints "tether: message" on stderr.
func complain(_ message: String) {
    FileHandle.standardError.write(Data("tether: \(message)\n".utf8))
}

func requireRoot(_ what: String) throws {
    if geteuid() != 0 {
        complain("\(what) loads BPF programs and must run as root (or with CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE)")
        throw ExitCode(77)
    }
}

/// Streams one session's events: process table, JSON lines, end-of-run report.
final class SessionRecorder {
    let table = ProcessTable()
    let output: LineWriter?
    let session: SessionID
    private(set) var count: UInt64 = 0

    init(session: SessionID, eventsPath: String?) throws {
        self.session = session
        output = try eventsPath.map { try LineWriter(path: $0) }
        table.resolver = { pid in ProcFS.info(pid, session: session) }
    }

    func handle(_ e: inout Event) {
        table.apply(&e)
        count += 1
        output?.write(EventJSON.encode(e))
    }

    /// Says what was lost or broken; true if everything was delivered.
    func report(probe: Probe, reader: EventReader) -> Bool {
        output?.close()
        var ok = true
        if let f = output?.failure { complain(f); ok = false }
        if let stats = try? probe.stats() {
            if stats.drops > 0 {
                let perCPU = (try? probe.dropsPerCPU()) ?? []
                complain("\(stats.drops) events lost: ring buffer full (per CPU: \(perCPU.map(String.init).joined(separator: " ")))")
                ok = false
            }
            if stats.trackFull > 0 {
                complain("\(stats.trackFull) new processes could not be tracked: tracked-process map full")
                ok = false
            }
        }
        if reader.corrupt > 0 { complain("\(reader.corrupt) corrupt records skipped"); ok = false }
        if let e = reader.pollError { complain("reading events stopped: \(e)"); ok = false }
        return ok
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command as a new agent session, tracked from its first instruction.",
        discussion: "The command's exit status is passed through (128+N if it died of signal N).")

    @Option(name: .long, help: ArgumentHelp("Write every event of the session as JSON lines to FILE ('-' = stdout).", valueName: "FILE"))
    var events: String?

    @Option(name: .long, help: ArgumentHelp("The session's workspace (default: the current directory).", valueName: "DIR"))
    var workspace: String?

    @Option(name: .long, help: ArgumentHelp("tetherd's control socket: if a daemon answers there, it tracks the session instead of probes loaded here.", valueName: "PATH"))
    var socket: String = ProcessInfo.processInfo.environment["TETHER_CONTROL"] ?? ControlDefaults.socketPath

    @Flag(name: .long, help: "Load probes here even if tetherd is running.")
    var standalone = false

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
    var command: [String] = []

    mutating func validate() throws {
        if command.first == "--" { command.removeFirst() }
        guard !command.isEmpty else { throw ValidationError("missing command: tether run [options] -- CMD [ARGS]") }
        if let w = workspace {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: w, isDirectory: &isDir), isDir.boolValue else {
                throw ValidationError("--workspace \(w): not a directory")
            }
        }
    }

    func run() throws {
        try requireRoot("tether run")
        if let status = try runViaDaemon() { throw ExitCode(status) }
        let probe: Probe
        do { probe = try Probe() } catch { complain("\(error)"); throw ExitCode(70) }
        let session = SessionID.random()
        let recorder: SessionRecorder
        do { recorder = try SessionRecorder(session: session, eventsPath: events) } catch { complain("\(error)"); throw ExitCode(73) }
        let reader = EventReader(probe: probe, sink: { recorder.handle(&$0) })
        reader.start()
        let started: Launcher.Started
        do {
            started = try Launcher.spawn(command, session: session, probe: probe)
        } catch let e as ProbeError {
            reader.stop()
            complain("\(e)")
            throw ExitCode(e.errno == ENOENT || e.errno == EACCES ? 127 : 126)
        }
        signal(SIGINT, SIG_IGN) // the agent gets the terminal's signals; we stay to drain
        signal(SIGQUIT, SIG_IGN)
        let status = Launcher.wait(started.pid)
        reader.stop()
        let survivors = (try? probe.tracked().filter { $0.session == session }) ?? []
        if !survivors.isEmpty {
            complain("session \(session): \(survivors.count) process(es) still running after the command exited: \(survivors.map { String($0.pid) }.joined(separator: ", "))")
        }
        _ = recorder.report(probe: probe, reader: reader)
        throw ExitCode(status)
    }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Track a running process and its descendants as a new session, until they have all exited.")

    @Option(name: .long, help: ArgumentHelp("Write the session's events as JSON lines to FILE ('-' = stdout).", valueName: "FILE"))
    var events: String = "-"

    @Argument(help: "The process id to watch.")
    var pid: Int32

    func run() throws {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else {
            complain("no process \(pid)")
            throw ExitCode(1)
        }
        try requireRoot("tether watch")
        let probe: Probe
        do { probe = try Probe() } catch { complain("\(error)"); throw ExitCode(70) }
        let session = SessionID.random()
        let recorder = try SessionRecorder(session: session, eventsPath: events)
        let reader = EventReader(probe: probe, sink: { recorder.handle(&$0) })
        reader.start()
        // Track the root, then its descendants until a pass finds nothing new: a child forked
        // by an already-tracked parent is inherited in the kernel.
        try probe.track(pid: pid, session: session, root: pid)
        var known: Set<Int32> = [pid]
        while true {
            let found = ProcFS.descendants(of: pid).filter { !known.contains($0) }
            if found.isEmpty { break }
            for p in found { try? probe.track(pid: p, session: session, root: pid); known.insert(p) }
        }
        for p in known { if let info = ProcFS.info(p, session: session) { recorder.table.insert(info) } }
        complain("watching pid \(pid) (\(known.count) process(es)) as session \(session)")
        signal(SIGINT, SIG_IGN)
        let stop = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let finished = DispatchSemaphore(value: 0)
        stop.setEventHandler { finished.signal() }
        stop.resume()
        while finished.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            if ((try? probe.tracked().contains { $0.session == session }) ?? false) == false { break }
        }
        reader.stop()
        for (p, s) in (try? probe.tracked()) ?? [] where s == session { try? probe.untrack(pid: p) }
        _ = recorder.report(probe: probe, reader: reader)
    }
}

TetherCLI.main()
