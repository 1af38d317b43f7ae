import ArgumentParser
import Foundation
import TetherControl
import TetherExport
import TetherLedger
import TetherResponse

/// Options every control-socket subcommand shares.
struct ControlOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("tetherd's control socket.", valueName: "PATH"))
    var socket: String = ProcessInfo.processInfo.environment["TETHER_CONTROL"] ?? ControlDefaults.socketPath

    @Flag(name: .long, help: "Print the daemon's JSON answer instead of text.")
    var json = false

    /// Sends one request; prints the daemon's refusal or error and exits non-zero on failure.
    func call(_ req: ControlRequest) throws -> ControlResponse {
        let r: ControlResponse
        do { r = try ControlClient.call(req, path: socket) } catch {
            complain("\(error)")
            throw ExitCode(69) // EX_UNAVAILABLE
        }
        if !r.ok {
            complain(r.error ?? "the daemon refused without a reason")
            throw ExitCode(r.error?.hasPrefix("refused") == true ? 77 : 1)
        }
        if json { print(ControlCodec.line(r)) }
        return r
    }
}

func formatAlert(_ a: AlertRecord) -> String {
    var s = "\(Timestamp.rfc3339(a.time))  \(a.severity.rawValue.uppercased())  \(a.rule)"
    if !a.mitre.isEmpty { s += " (\(a.mitre))" }
    if !a.session.isEmpty { s += "  session \(a.session)" }
    if let p = a.pid { s += " pid \(p)" }
    if let e = a.exe { s += " \(e)" }
    if let p = a.path { s += "  path \(p)" }
    if let d = a.address { s += "  address \(d)" }
    s += "  action \(a.action)\(a.enforced ? " (done)" : "")\n    \(a.message)"
    return s
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show tetherd's state: probes, sessions, event rate, losses, sinks.")
    @OptionGroup var control: ControlOptions

    func run() throws {
        let r = try control.call(ControlRequest(command: .status))
        guard !control.json, let s = r.status else { return }
        print("tetherd pid \(s.pid), up \(Int(s.uptimeSeconds))s")
        print("policy      \(s.policy) (\(s.agents) agent selector(s), loaded \(Timestamp.rfc3339(s.policyLoadedAt)); \(s.reloads) reload(s), \(s.rejectedReloads) rejected)")
        print("probes      \(s.hooksAttached) hooks attached")
        print("sessions    \(s.sessions) (\(s.trackedProcesses) tracked process(es))")
        print(String(format: "events      %llu (%.0f/s), %llu lost, %llu corrupt", s.events, s.eventsPerSecond, s.lostEvents, s.corruptRecords))
        print("alerts      \(s.alerts)")
        if let g = s.guards { print("guards      \(g)") }
        if s.sinks.isEmpty { print("sinks       none (see tetherd --syslog / --alerts-json)") }
        for k in s.sinks {
            print("sink        \(k.name): \(k.state), \(k.sent) sent, \(k.queued) queued, \(k.dropped) dropped\(k.lastError.map { " (\($0))" } ?? "")")
        }
    }
}

struct Sessions: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the agent sessions tetherd is tracking, then the ended ones with a ledger.")
    @OptionGroup var control: ControlOptions

    @Option(name: .long, help: ArgumentHelp("Tether's state directory (ledgers under its sessions/).", valueName: "DIR"))
    var stateDir: String = Quarantine.defaultStateDirectory

    @Option(name: .long, help: ArgumentHelp("How many ended sessions to list, newest first (0 = none).", valueName: "N"))
    var ended: Int = 20

    func run() throws {
        // With no daemon, the ended sessions are still listed (and the status says it was not reached).
        var unreachable: ExitCode?
        var r = ControlResponse(ok: true)
        do { r = try control.call(ControlRequest(command: .sessions)) } catch let e as ExitCode { unreachable = e }
        defer { if let unreachable { Foundation.exit(unreachable.rawValue) } }
        guard !control.json else { return }
        let list = r.sessions ?? []
        if list.isEmpty && unreachable == nil { print("no sessions") }
        if !list.isEmpty { print("SESSION           AGENT            ROOT     PROCS  COMMAND") }
        for s in list {
            let root = s.rootAlive ? String(s.root) : "(\(s.root))"
            print("\(s.session)  \(s.agent.padding(toLength: 15, withPad: " ", startingAt: 0))  \(root.padding(toLength: 7, withPad: " ", startingAt: 0))  \(String(s.members.count).padding(toLength: 5, withPad: " ", startingAt: 0))  \(s.rootExe ?? "-")")
        }
        let stored = LedgerStore.list(LedgerStore.directory(state: stateDir)).filter { $0.ended != nil }.prefix(max(0, ended))
        guard !stored.isEmpty else { return }
        print("\nENDED SESSION     AGENT            STARTED               LEDGER")
        for s in stored {
            let started = s.start.map { Timestamp.rfc3339($0).prefix(19).replacingOccurrences(of: "T", with: " ") } ?? "?"
            print("\(s.session)  \(s.agent.padding(toLength: 15, withPad: " ", startingAt: 0))  \(started.padding(toLength: 20, withPad: " ", startingAt: 0))  \(s.path) (\(s.bytes) bytes)")
        }
    }
}

struct Alerts: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show recent alerts; with --follow, keep printing new ones.")
    @OptionGroup var control: ControlOptions

    @Option(name: .long, help: "How many recent alerts to show first.")
    var last: Int = 50

    @Flag(name: [.short, .long], help: "Keep printing alerts as they are raised (until ^C).")
    var follow = false

    func run() throws {
        let req = ControlRequest(command: .alerts, limit: last, follow: follow)
        let show: (AlertRecord) -> Void = { a in
            print(control.json ? AlertJSON.encode(a) : formatAlert(a))
            fflush(stdout)
        }
        if !follow {
            var c = control
            c.json = false
            let r = try c.call(req)
            (r.alerts ?? []).forEach(show)
            return
        }
        let conn: ControlConnection
        do { conn = try ControlClient.connect(path: control.socket) } catch {
            complain("\(error)")
            throw ExitCode(69)
        }
        conn.send(req)
        var first = true
        while let line = conn.readLine() {
            guard let r = try? ControlCodec.decode(ControlResponse.self, line) else { continue }
            if !r.ok {
                complain(r.error ?? "refused")
                throw ExitCode(r.error?.hasPrefix("refused") == true ? 77 : 1)
            }
            if first { (r.alerts ?? []).forEach(show); first = false; continue }
            if let a = r.alert { show(a) }
            if let m = r.message { complain(m) }
        }
        complain("the daemon closed the connection")
        throw ExitCode(69)
    }
}

/// resume/kill: tetherd if it knows the session, else the standalone `tether run` that owns it.
func sessionAction(_ command: ControlCommand, _ session: String, _ control: ControlOptions) throws -> ControlResponse {
    let req = ControlRequest(command: command, session: session)
    var tried: [String] = []
    for path in [control.socket] + RunControl.sockets() {
        guard let r = try? ControlClient.call(req, path: path) else { continue }
        if r.ok {
            if control.json { print(ControlCodec.line(r)) }
            return r
        }
        if let e = r.error, e.hasPrefix("refused") {
            complain(e)
            throw ExitCode(77)
        }
        tried.append("\(path): \(r.error ?? "no such session")")
    }
    complain(tried.isEmpty ? "no tetherd at \(control.socket) and no running tether run answered" : "session \(session) not found (\(tried.joined(separator: "; ")))")
    throw ExitCode(1)
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Continue a stopped session (SIGCONT to every member).")
    @OptionGroup var control: ControlOptions
    @Argument(help: "Session id (see `tether sessions`).") var session: String

    func run() throws {
        let r = try sessionAction(.resume, session, control)
        if !control.json { print(r.message ?? "resumed") }
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Kill every process of a session (stopped first, so none forks away).")
    @OptionGroup var control: ControlOptions
    @Argument(help: "Session id (see `tether sessions`).") var session: String

    func run() throws {
        let r = try sessionAction(.kill, session, control)
        if !control.json { print(r.message ?? "killed") }
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make tetherd reread its policy (a bad policy is rejected and the old one kept).")
    @OptionGroup var control: ControlOptions

    func run() throws {
        let r = try control.call(ControlRequest(command: .reload))
        if !control.json { print(r.message ?? "reloaded") }
    }
}
