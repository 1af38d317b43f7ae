import ArgumentParser
import Foundation
import TetherControl
import TetherCore
import TetherPipeline
import TetherProbe
import TetherResponse

struct TetherCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tether",
        abstract: "Run and watch AI agents under Tether.",
        subcommands: [Run.self, Watch.self, Replay.self, CheckPolicy.self, Status.self, Sessions.self, Alerts.self, Resume.self, Kill.self, Reload.self, Canary.self, QuarantineCommand.self, Report.self]
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

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Track a running process and its descendants as a new session, until they have all exited.",
        discussion: """
        Findings are printed on stderr (and written with --alerts) as `tether run` does; the \
        session is watched in monitor mode: nothing is acted on.
        """)

    @Option(name: .long, help: ArgumentHelp("Write the session's events as JSON lines to FILE ('-' = stdout); FILE,format=ocsf writes OCSF records.", valueName: "FILE[,format=F]"))
    var events: String = "-"

    @Option(name: .long, help: ArgumentHelp("Write findings as JSON lines to FILE ('-' = stdout); FILE,format=falco or FILE,format=ocsf as for tether run.", valueName: "FILE[,format=F]"))
    var alerts: String?

    @Option(name: .long, help: ArgumentHelp("Policy file (default: /etc/tether/policy.yaml if present, else the built-in policy).", valueName: "FILE"))
    var policy: String?

    @Argument(help: "The process id to watch.")
    var pid: Int32

    func validate() throws { try validateOutputs(events: events, alerts: alerts) }

    func run() throws {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else {
            complain("no process \(pid)")
            throw ExitCode(1)
        }
        let pol: Policy
        do { pol = try loadRunPolicy(policy) } catch { complain("\(error)"); throw ExitCode(78) }
        try requireRoot("tether watch")
        let probe: Probe
        do { probe = try Probe() } catch { complain("\(error)"); throw ExitCode(70) }
        let session = SessionID.random()
        let recorder: SessionRecorder
        do {
            recorder = try SessionRecorder(session: session, policy: pol, eventsPath: events, alertsPath: alerts, protectedPids: [getpid()])
        } catch { complain("\(error)"); throw ExitCode(73) }
        recorder.pipeline.begin(session: session, root: pid, workspace: ProcFS.cwd(pid), label: "tether watch \(pid)")
        let reader = EventReader(probe: probe, sink: { recorder.handle(&$0) })
        reader.start()
        // Track the root, then its descendants until a pass finds nothing new: a child forked
        // by an already-tracked parent is inherited in the kernel.
        guard try probe.adopt(pid: pid, session: session, root: pid) else {
            reader.stop()
            complain("pid \(pid) exited, or is already tracked by another session")
            throw ExitCode(1)
        }
        // Then its descendants, until a pass finds nothing new: children forked from now on
        // by a tracked parent are inherited in the kernel.
        var known: Set<Int32> = [pid]
        while true {
            let found = ProcFS.descendants(of: pid).filter { !known.contains($0) }
            if found.isEmpty { break }
            for p in found { _ = try? probe.adopt(pid: p, session: session, root: pid); known.insert(p) }
        }
        for p in known { if let info = ProcFS.info(p, session: session) { recorder.pipeline.insert(info) } }
        complain("watching pid \(pid) (\(known.count) process(es)) as session \(session)")
        signal(SIGINT, SIG_IGN)
        let stop = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let finished = DispatchSemaphore(value: 0)
        stop.setEventHandler { finished.signal() }
        stop.resume()
        while finished.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            recorder.tick()
            if ((try? probe.tracked().contains { $0.session == session }) ?? false) == false { break }
        }
        reader.stop()
        for (p, s) in (try? probe.tracked()) ?? [] where s == session { try? probe.untrack(pid: p) }
        _ = recorder.finish(probe: probe, reader: reader)
    }
}

TetherCLI.main()
