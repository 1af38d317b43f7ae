import XCTest
@testable import TetherCore

/// A session under test: user `dev` (uid 1000, home /home/dev), workspace /home/dev/proj,
/// root pid 100 running node. Events are fed the way the daemon feeds them: process
/// table first, then the classifier.
final class Scenario {
    static let session = SessionID(0x00c0_ffee_0000_0001)
    static let home = "/home/dev"
    static let workspace = "/home/dev/proj"
    static let rootPid: Int32 = 100

    let classifier: Classifier
    let table = ProcessTable()
    /// What the kernel's entry says of the session: its agent and that agent's mode.
    let agent: AgentPolicy
    /// The session user: events built for uid 1000 are rewritten to it.
    let uid: UInt32
    var time: UInt64 = 1_000_000_000
    private(set) var findings: [Finding] = []

    init(policy: Policy = .default, uid: UInt32 = 1000, workspace: String? = Scenario.workspace, agent: String? = nil,
         external: [Int32: ExternalProcess] = [:], protected: Set<Int32> = []) {
        self.uid = uid
        self.agent = policy.agent(named: agent)
        classifier = Classifier(policy: policy)
        classifier.homeDirectory = { $0 == 0 ? "/root" : $0 == 1000 ? Scenario.home : "/home/user\($0)" }
        classifier.externalProcess = { external[$0] }
        classifier.protectedPids = protected
        classifier.beginSession(Scenario.session, rootPid: Scenario.rootPid, workspace: workspace, agent: agent, time: time)
        table.insert(ProcessRecord(pid: Scenario.rootPid, ppid: 1, session: Scenario.session, exe: "/usr/bin/node",
                                   argv: ["node", "/usr/lib/agent/cli.js"], cwd: workspace ?? "/", comm: "node", startTime: time))
    }

    @discardableResult
    func feed(_ events: [Event]) -> [Finding] {
        var out: [Finding] = []
        for var e in events {
            if uid != 1000, e.uid == 1000 { e.uid = uid; if e.euid == 1000 { e.euid = uid } }
            // every record carries the session's agent and mode, as the kernel's entry has them
            if e.agent == nil { e.agent = agent.name }
            e.enforcement = agent.mode
            if e.time == 0 { time += 1_000_000; e.time = time } else { time = max(time, e.time) }
            table.apply(&e)
            out += classifier.process(e, table: table)
            out += classifier.tick(now: time, table: table)
        }
        findings += out
        return out
    }

    func rules() -> [String] { findings.map(\.rule) }
}

/// Event builders. Every event belongs to the scenario's session, uid 1000, pid 100 unless given.
enum E {
    static func base(_ kind: EventKind, pid: Int32, uid: UInt32 = 1000, result: Int64 = 0) -> Event {
        Event(kind: kind, pid: pid, ppid: pid == Scenario.rootPid ? 1 : Scenario.rootPid, uid: uid,
              session: Scenario.session, result: result, comm: "test")
    }

    static func open(_ path: String, _ how: String = "r", pid: Int32 = 100, result: Int64 = 3, mode: UInt32? = nil, uid: UInt32 = 1000,
                     guard actions: GuardActions = []) -> Event {
        var e = base(.open, pid: pid, uid: uid, result: result)
        e.guardActions = actions
        var f: UInt64 = 0
        if how.contains("w") { f |= how.contains("r") ? OpenFlags.readWrite : OpenFlags.writeOnly }
        if how.contains("c") { f |= OpenFlags.create }
        if how.contains("t") { f |= OpenFlags.truncate }
        if how.contains("a") { f |= OpenFlags.append }
        if how.contains("d") { f |= OpenFlags.directory }
        if how.contains("p") { f |= OpenFlags.path }
        e.flags = f
        e.path = path
        e.mode = mode ?? (f & OpenFlags.create != 0 ? 0o644 : nil)
        return e
    }
    /// Write-create-truncate, like `>` in a shell.
    static func write(_ path: String, pid: Int32 = 100, result: Int64 = 3, mode: UInt32 = 0o644) -> Event {
        open(path, "wct", pid: pid, result: result, mode: mode)
    }
    /// `env`: the variables the kernel kept of the new environment; `script`: the #! script
    /// the kernel exec'd (then `path` is its interpreter); `owner`/`mode`: the executable's inode.
    static func exec(_ path: String, _ argv: [String], pid: Int32 = 100, uid: UInt32 = 1000, euid: UInt32? = nil,
                     cwd: String = Scenario.workspace, result: Int64 = 0, env: [String]? = nil, script: String? = nil,
                     owner: UInt32? = nil, mode: UInt32? = nil) -> Event {
        var e = base(.exec, pid: pid, uid: uid, result: result)
        e.euid = euid ?? uid
        e.path = path
        e.argv = argv
        e.cwd = cwd
        e.env = env
        e.requested = script
        e.script = script != nil
        e.exeOwner = owner
        e.exeMode = mode
        return e
    }
    static func pathOp(_ kind: EventKind, _ path: String, pid: Int32 = 100, result: Int64 = 0, mode: UInt32? = nil) -> Event {
        var e = base(kind, pid: pid, result: result)
        e.path = path
        e.mode = mode
        return e
    }
    static func rename(_ from: String, _ to: String, pid: Int32 = 100, result: Int64 = 0) -> Event {
        var e = base(.rename, pid: pid, result: result)
        e.path = from
        e.newPath = to
        return e
    }
    static func link(_ old: String, _ new: String, pid: Int32 = 100) -> Event {
        var e = base(.link, pid: pid)
        e.path = old
        e.newPath = new
        return e
    }
    static func symlink(_ link: String, to target: String, pid: Int32 = 100) -> Event {
        var e = base(.symlink, pid: pid)
        e.path = link
        e.linkTarget = target
        return e
    }
    static func chmod(_ path: String, _ mode: UInt32, pid: Int32 = 100, result: Int64 = 0) -> Event { pathOp(.chmod, path, pid: pid, result: result, mode: mode) }
    static func unlink(_ path: String, pid: Int32 = 100) -> Event { pathOp(.unlink, path, pid: pid) }
    static func mkdir(_ path: String, pid: Int32 = 100) -> Event { pathOp(.mkdir, path, pid: pid, mode: 0o755) }
    static func truncate(_ path: String, pid: Int32 = 100) -> Event {
        var e = pathOp(.truncate, path, pid: pid)
        e.length = 0
        return e
    }
    static func connect(_ addr: String, _ port: UInt16, pid: Int32 = 100, result: Int64 = 0, kind: EventKind = .connect) -> Event {
        var e = base(kind, pid: pid, result: result)
        e.family = addr.contains(":") ? .inet6 : .inet
        e.addr = addr
        e.port = port
        return e
    }
    static func connectUnix(_ path: String, pid: Int32 = 100, result: Int64 = 0) -> Event {
        var e = base(.connect, pid: pid, result: result)
        e.family = .unix
        e.addr = path
        return e
    }
    static func fork(_ parent: Int32, _ child: Int32) -> Event {
        var e = base(.fork, pid: parent)
        e.target = child
        return e
    }
    static func exit(_ pid: Int32, time: UInt64 = 0) -> Event {
        var e = base(.exit, pid: pid)
        e.exitCode = 0
        e.time = time
        return e
    }
    static func setsid(_ pid: Int32) -> Event { base(.setsid, pid: pid, result: Int64(pid)) }
    static func kill(_ target: Int32, signal: Int32 = 15, pid: Int32 = 100, result: Int64 = 0, via: String = "kill",
                     guard actions: GuardActions = []) -> Event {
        var e = base(.kill, pid: pid, result: result)
        e.target = target
        e.signal = signal
        e.via = via
        e.guardActions = actions
        return e
    }
    /// A restricted syscall that reaches process `target` (process_vm_readv/writev, pidfd_getfd, pidfd_open).
    static func reach(_ target: Int32, syscall name: String, pid: Int32 = 100, result: Int64 = 0, guard actions: GuardActions = []) -> Event {
        var e = base(.restricted, pid: pid, result: result)
        e.syscall = Int32((0..<512).first { SyscallName.of(Int32($0)) == name } ?? -1)
        e.target = target
        e.guardActions = actions
        return e
    }
    static func ptrace(_ target: Int32, request: Int64 = 16, pid: Int32 = 100, result: Int64 = 0) -> Event {
        var e = base(.ptrace, pid: pid, result: result)
        e.target = target
        e.request = request
        return e
    }
    static func flagsOp(_ kind: EventKind, _ flags: UInt64, pid: Int32 = 100, result: Int64 = 0) -> Event {
        var e = base(kind, pid: pid, result: result)
        e.flags = flags
        return e
    }
    static func mount(_ target: String, source: String = "none", fstype: String = "tmpfs", result: Int64 = 0) -> Event {
        var e = base(.mount, pid: 100, result: result)
        e.path = target
        e.source = source
        e.fstype = fstype
        return e
    }
    static func setid(_ kind: EventKind, _ ids: [Int64], pid: Int32 = 100, result: Int64 = 0) -> Event {
        var e = base(kind, pid: pid, result: result)
        e.ids = ids
        e.idCall = kind == .setuid ? "setresuid" : "setresgid"
        return e
    }
    static func simple(_ kind: EventKind, pid: Int32 = 100, result: Int64 = 0, _ fill: (inout Event) -> Void = { _ in }) -> Event {
        var e = base(kind, pid: pid, result: result)
        fill(&e)
        return e
    }
}

/// One row of a rule table: a name and the events of a fresh session.
struct Row {
    let name: String
    let events: [Event]
    var policy: Policy = .default
    var uid: UInt32 = 1000
    var workspace: String? = Scenario.workspace
    var external: [Int32: ExternalProcess] = [:]
    var protected: Set<Int32> = []
    /// Files that hold a credential (true) or not (false), as the live host would say.
    var content: [String: Bool] = [:]

    init(_ name: String, _ events: [Event], policy: Policy = .default, uid: UInt32 = 1000, workspace: String? = Scenario.workspace,
         external: [Int32: ExternalProcess] = [:], protected: Set<Int32> = [], content: [String: Bool] = [:]) {
        self.name = name
        self.events = events
        self.policy = policy
        self.uid = uid
        self.workspace = workspace
        self.external = external
        self.protected = protected
        self.content = content
    }

    func run() -> Scenario {
        let s = Scenario(policy: policy, uid: uid, workspace: workspace, external: external, protected: protected)
        let content = self.content
        if !content.isEmpty { s.classifier.credentialContent = { content[$0] } }
        s.feed(events)
        return s
    }
}

/// The table test: every `fire` row yields a finding of `rule`, no `quiet` row does.
func check(_ rule: String, fire: [Row], quiet: [Row], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertNotNil(RuleCatalog.info(rule), "no rule \(rule) in the catalog", file: file, line: line)
    XCTAssertFalse(fire.isEmpty, "\(rule): no must-fire rows", file: file, line: line)
    XCTAssertFalse(quiet.isEmpty, "\(rule): no must-not-fire rows", file: file, line: line)
    for row in fire {
        let s = row.run()
        let hits = s.findings.filter { $0.rule == rule }
        XCTAssertFalse(hits.isEmpty, "\(rule) must fire: \(row.name) (got: \(s.rules()))", file: file, line: line)
        for f in hits {
            XCTAssertFalse(f.message.isEmpty, file: file, line: line)
            XCTAssertEqual(f.session, Scenario.session, file: file, line: line)
            XCTAssertFalse(f.events.isEmpty, file: file, line: line)
        }
    }
    for row in quiet {
        let s = row.run()
        let hits = s.findings.filter { $0.rule == rule }
        XCTAssertTrue(hits.isEmpty, "\(rule) must not fire: \(row.name) (got: \(hits.map(\.message)))", file: file, line: line)
    }
}

func R(_ name: String, _ events: Event...) -> Row { Row(name, events) }
