#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A rule with the settings one agent policy gives it (a class: the rule loop passes it
/// around without copying its strings and arrays).
final class CompiledRule {
    let rule: any Rule
    let info: RuleInfo
    let settings: ResolvedRuleSettings
    let fallback: Bool
    /// `Place` bits outside which a file change cannot concern the rule (0: ungated).
    let gate: UInt64
    /// The rule looks only at execs of certain programs (`CompiledAgent.execWanted`).
    let execGated: Bool

    init(rule: any Rule, info: RuleInfo, settings: ResolvedRuleSettings) {
        self.rule = rule
        self.info = info
        self.settings = settings
        fallback = info.fallback
        gate = (type(of: rule) as? LocationGated.Type)?.gate.reduce(0) { $0 | UInt64(1) << UInt64($1.rawValue) } ?? 0
        execGated = type(of: rule) is ExecGated.Type
    }
}

/// One agent policy with its enabled rules indexed by event kind.
final class CompiledAgent {
    let policy: AgentPolicy
    /// Every catalog rule, in catalog order (the index is the rule's number in dedupe keys).
    let rules: [CompiledRule]
    /// kind ordinal -> indexes into `rules` of enabled rules wanting that kind; specific
    /// rules first, fallbacks last.
    let byKind: [[Int]]
    /// Program basename -> bits (by rule index) of the exec-gated rules that want its execs.
    let execWanted: [String: UInt64]
    /// The classifier that compiled it.
    let generation: UInt64

    /// A classifier's mark on what it compiled (random: two classifiers never share one).
    static func nextGeneration() -> UInt64 { UInt64.random(in: 1...UInt64.max) }

    init(_ policy: AgentPolicy, catalog: [any Rule], generation: UInt64) {
        self.generation = generation
        self.policy = policy
        rules = catalog.map { CompiledRule(rule: $0, info: $0.info, settings: policy.settings(for: $0.info)) }
        var wanted: [String: UInt64] = [:]
        for (i, r) in rules.enumerated() where i < 64 {
            for name in (type(of: r.rule) as? ExecGated.Type)?.execNames ?? [] { wanted[name, default: 0] |= UInt64(1) << UInt64(i) }
        }
        execWanted = wanted
        var table = [[Int]](repeating: [], count: CompiledAgent.slots)
        for pass in [false, true] {
            for (i, r) in rules.enumerated() where r.settings.enabled && r.info.fallback == pass {
                var slots = Set(r.info.kinds.map(\.ordinal))
                if r.info.kinds.contains(.open) {
                    if r.info.opens == .writes { slots.remove(EventKind.open.ordinal) }
                    if r.info.opens != .reads { slots.insert(CompiledAgent.writeOpenSlot) }
                }
                for k in slots.sorted() { table[k].append(i) }
            }
        }
        byKind = table
    }

    /// One slot per event kind, plus one for opens that can write (reads use `.open`'s).
    static let writeOpenSlot = EventKind.count
    static let slots = EventKind.count + 1

    /// A read the kernel's tamper guard matched (Tether's /proc/PID/mem) goes where writes
    /// go: the tamper rule judges it, and the many read rules need not look at every read.
    @inline(__always)
    static func slot(_ e: Event) -> Int {
        e.kind == .open && (e.isWriteOpen || e.guardActions.contains(.tamper)) ? writeOpenSlot : e.kind.ordinal
    }

    /// Slots of file changes, where location gates apply.
    static let changeSlots: [Bool] = (0..<slots).map { s in
        s == writeOpenSlot || (EventKind.modifying.contains { $0.ordinal == s } && s != EventKind.open.ordinal)
    }
}

/// Turns a session's events into findings. Pure: it reads events and the process table
/// and never touches the kernel. Not thread-safe: feed it from one thread (the reader).
/// It judges each session under the agent its events say the kernel chose, and keeps
/// session state in a `SessionRegistry` that a reload hands on to the next classifier.
public final class Classifier {
    public let policy: Policy
    /// tetherd and the supervising `tether run`: signals and ptrace aimed at them are tampering.
    public var protectedPids: Set<Int32> = []
    public let identity: TetherIdentity
    /// The home directory of a uid (default: the passwd database).
    public var homeDirectory: (UInt32) -> String? = Classifier.passwdHome
    /// How the daemon sees a process outside every session (default: it does not).
    public var externalProcess: ((Int32) -> ExternalProcess?)?
    /// Whether a file on this host holds a credential (default: nobody can tell).
    public var credentialContent: ((String) -> Bool?)?
    /// The MCP servers that run a command in a `~/.claude.json` on this host, read now
    /// (`ClaudeState.commands`; nil: absent or not JSON). Live only: content is this
    /// host's fact, never a recording's.
    public var agentState: ((String) -> ClaudeState.Reading)?
    /// Where a rule's failure is reported (default: stderr). The rule is skipped, not the event.
    public var log: (String) -> Void = { msg in
        var line = "tether classifier: \(msg)\n"
        line.withUTF8 { b in _ = fwrite(b.baseAddress, 1, b.count, stderr) }
    }
    public private(set) var ruleFailures = 0

    private let catalog: [any Rule]
    private let defaultAgent: CompiledAgent
    private var agents: [String: CompiledAgent] = [:]
    /// Agent names events carried that this policy does not have (logged once each).
    private var unknownAgents: Set<String> = []
    public let sessions: SessionRegistry
    private let tether: CompiledTetherIdentity
    private let outlivedIndex: Int?
    private let agentConfigIndex: Int?
    private let places: PlaceIndex
    /// Tells this classifier's compiled agents from an earlier one's (a reload).
    private let generation = CompiledAgent.nextGeneration()

    public init(policy: Policy, identity: TetherIdentity = TetherIdentity(), rules: [any Rule] = RuleCatalog.rules,
                sessions: SessionRegistry = SessionRegistry()) {
        self.policy = policy
        self.identity = identity
        self.sessions = sessions
        catalog = rules
        defaultAgent = CompiledAgent(policy.defaults, catalog: rules, generation: generation)
        for a in policy.agents { agents[a.name] = CompiledAgent(a, catalog: rules, generation: generation) }
        tether = CompiledTetherIdentity(identity)
        places = PlaceIndex(identity: identity)
        outlivedIndex = rules.firstIndex { $0.info.id == OutlivedSession.id }
        agentConfigIndex = rules.firstIndex { $0.info.id == PersistAgentConfig.definition.id }
    }

    /// Sessions known right now.
    public var sessionCount: Int { sessions.count }
    public func session(_ id: SessionID) -> SessionState? { sessions[id] }

    /// Starts a session before its first event (`tether run` knows its root and workspace
    /// first). `agent` names a policy agent that the session keeps whatever its events say
    /// (`tether replay --agent`); nil: the agent the kernel chose, as the events say.
    /// `workspace` nil means the root's working directory, learned from its first event.
    @discardableResult
    public func beginSession(_ id: SessionID, rootPid: Int32, workspace: String?, agent: String?, time: UInt64,
                             label: String? = nil) -> SessionState {
        let s = SessionState(id: id, rootPid: rootPid, compiled: compiled(agent),
                             agentFixed: agent != nil, workspace: workspace.map { Paths.normalize($0) }, time: time)
        s.label = label
        sessions.insert(s)
        return s
    }

    /// Forgets a session (the daemon calls this once its last member is gone); returns what
    /// is judged only once the session's writes are done (Claude Code's state it wrote).
    @discardableResult
    public func endSession(_ id: SessionID, table: ProcessTable? = nil, time: UInt64 = 0) -> [Finding] {
        var out: [Finding] = []
        if let s = sessions[id], let table { out = judgeAgentState(s, table: table, time: time) }
        sessions.agentStatePending.remove(id)
        sessions.end(id)
        return out
    }

    /// The `~/.claude.json` files the session wrote, by what they hold now: MCP servers that
    /// run a command and were not there before, or were defined otherwise
    /// (`AgentStateBaselines`), are persist.agent_config. The finding's trigger is the file
    /// as it is now (no write of its own to undo): what enforce mode undoes is those servers
    /// (`Finding.agentStateChanges`). A file left in a
    /// state Tether cannot judge (a symlink Claude Code would follow, too large, not JSON) is
    /// a finding too, with nothing claimed undone; one the session removed is not.
    func judgeAgentState(_ s: SessionState, table: ProcessTable, time: UInt64) -> [Finding] {
        guard !s.agentStateWritten.isEmpty, let read = agentState, let i = agentConfigIndex else { return [] }
        let written = s.agentStateWritten.sorted { $0.key < $1.key }
        s.agentStateWritten = [:]
        let agent = s.compiled
        guard agent.rules[i].settings.enabled else { return [] }
        var out: [Finding] = []
        for (path, pid) in written {
            let hit: RuleHit
            var changes: [ClaudeState.Change] = []
            switch read(path) {
            case .absent:
                continue
            case .unjudgeable(let why):
                hit = RuleHit("Claude Code's state \(path), written by the session, cannot be judged (\(why)): Claude Code reads what it holds, MCP servers included",
                              subject: "mcp:\(path):unjudgeable", path: path, pid: pid)
            case .servers(let now):
                changes = sessions.agentState.changes(path, now: now)
                guard !changes.isEmpty else { continue }
                let list = changes.map { c in
                    c.before == nil ? "\(c.server.name) runs `\(c.now.command)`"
                        : "\(c.server.name) changed (\(c.changedKeys.joined(separator: ", "))), runs `\(c.now.command)`"
                }.joined(separator: "; ")
                hit = RuleHit("MCP server(s) that run a command added to or changed in Claude Code's state \(path) (every Claude Code session starts them): \(list)",
                              subject: "mcp:\(path):" + changes.map { $0.server.scope + "\u{0}" + $0.server.name }.joined(separator: ","), path: path, pid: pid)
            }
            var trigger = Event(kind: .open, time: time, pid: pid, session: s.id)
            trigger.path = path
            trigger.exe = table.lookup(pid)?.exe
            if var f = finding(hit, rule: agent.rules[i], index: i, event: trigger, session: s, agent: agent, table: table, time: time) {
                if !changes.isEmpty { f.agentStateChanges = changes }
                out.append(f)
            }
        }
        return out
    }

    /// The compiled agent of that name; the defaults for nil, and for a name this policy
    /// lacks (said once).
    private func compiled(_ name: String?) -> CompiledAgent {
        guard let name, name != defaultAgent.policy.name else { return defaultAgent }
        if let a = agents[name] { return a }
        if unknownAgents.insert(name).inserted {
            log("agent \(name) of a session is not in \(policy.source): its sessions run under the defaults")
        }
        return defaultAgent
    }

    /// Runs every rule that wants this event's kind. Call after `table.apply(&e)`.
    public func process(_ e: Event, table: ProcessTable) -> [Finding] {
        let s = sessions[e.session] ?? adopt(e, table: table)
        // The agent and mode the kernel says this session runs under now (a reload may have
        // compiled the agent anew, or retired it).
        if !s.agentFixed, s.compiled.generation != generation || (e.agent != nil && e.agent != s.agentName) {
            s.bind(compiled(e.agent ?? s.agentName))
        }
        s.mode = e.enforcement
        let agent = s.compiled
        if !s.prepared {
            let fallback = table.lookup(s.rootPid)?.cwd.nonEmpty ?? (e.pid == s.rootPid ? e.cwd : nil)
            let home = home(of: e.uid)
            s.prepare(uid: e.uid, home: home, fallbackWorkspace: fallback, rules: agent.rules)
            if let read = agentState, let home { sessions.agentState.seed(homes: [home], read: read) }
        }
        let roots = s.roots
        // the homes this member was exec'd with count from its exec on (its own rules included)
        if e.kind == .exec, let env = e.env, !env.isEmpty, s.learnHomes(env) {
            sessions.learnedHomes.merge(s.homes.learned)
            if let read = agentState { sessions.agentState.seed(homes: s.homes.learned.filter { $0.under.isEmpty }.map(\.path), read: read) }
        }
        let modified = e.modification
        // Claude Code's state in one of the session's homes: judged by what it holds once
        // the session's writes are done (at the next tick, and when the session ends)
        if agentState != nil, let m = modified, e.succeeded, ClaudeState.named(m.path),
           Homes.relative(m.path, homes: s.activeHomes)?.rel == ClaudeState.fileName[...] {
            s.agentStateWritten[m.path] = e.pid
            sessions.agentStatePending.insert(s.id)
        }
        let path = modified?.path ?? e.openedPath
        let inWorkspace = modified.map { roots.workspace.contains($0.path) } ?? false
        let execName: String? = e.kind == .exec ? e.execName.map(String.init) : nil
        let homes = s.activeHomes, learned = s.hasLearnedHomes
        let ctx = RuleContext(session: s, table: table, protectedPids: protectedPids, roots: roots, tether: tether,
                              external: externalProcess, credentialContent: credentialContent, learnedHomes: learned, homes: homes,
                              modified: modified, path: path,
                              pathMask: path.map { places.mask($0, homes: homes) } ?? 0, execName: execName,
                              modifiedInWorkspace: inWorkspace,
                              modifiedMayWrite: inWorkspace || (modified.map { roots.writable.contains($0.path) || (learned && s.homeWritable.contains($0.path)) } ?? false))
        var out: [Finding] = []
        var explained = false
        let slot = CompiledAgent.slot(e)
        let isChange = CompiledAgent.changeSlots[slot]
        var gateMask = ctx.pathMask
        if isChange, let from = e.renameSource { gateMask |= places.mask(from, homes: homes) }
        // the kernel's tamper guard matched Tether's own file by its inode (a session's ledger
        // wherever the state directory is): the kernel decided, the path list need not agree
        if e.guardActions.contains(.tamper) { gateMask |= Place.tether.mask }
        // an io_uring request's open of a /proc entry never met that guard: escape.tamper
        // looks at its path
        if e.ioUringOp != nil, let p = e.path, PathBytes.procPid(p) != nil { gateMask |= Place.tether.mask }
        // Exec-gated rules past index 63 have no bit: they are always called. An exec that
        // changed credentials (a setuid program) is shown to every rule.
        let execWanted: UInt64 = e.kind != .exec || e.euid != e.uid ? ~0 : execName.flatMap { agent.execWanted[$0] } ?? 0
        for i in agent.byKind[slot] {
            let r = agent.rules[i]
            if r.fallback, explained { break }
            if isChange, r.gate != 0, gateMask & r.gate == 0 { continue }
            if r.execGated, i < 64, execWanted & (UInt64(1) << UInt64(i)) == 0 { continue }
            let hit: RuleHit?
            do {
                hit = try r.rule.evaluate(e, ctx)
            } catch {
                ruleFailures += 1
                log("rule \(r.info.id) failed on \(e.kind.rawValue) event of pid \(e.pid): \(error)")
                continue
            }
            guard let hit else { continue }
            explained = true
            if let f = finding(hit, rule: r, index: i, event: e, session: s, agent: agent, table: table) { out.append(f) }
        }
        let wasRootExit = e.kind == .exit && e.pid == s.rootPid && s.rootExitTime == nil
        s.observe(e, modified: modified, inWorkspace: inWorkspace, table: table)
        if wasRootExit { sessions.awaitingGrace.append(s.id) }
        return out
    }

    /// Time-based rules: survivors of a session whose root exited more than the grace period
    /// ago (`persist.outlived_session`). Call periodically with the current boot time.
    public func tick(now: UInt64, table: ProcessTable) -> [Finding] {
        var out: [Finding] = []
        for id in sessions.agentStatePending { if let s = sessions[id] { out += judgeAgentState(s, table: table, time: now) } }
        sessions.agentStatePending.removeAll()
        guard !sessions.awaitingGrace.isEmpty else { return out }
        var still: [SessionID] = []
        for id in sessions.awaitingGrace {
            guard let s = sessions[id], let exit = s.rootExitTime else { continue }
            guard now >= exit &+ OutlivedSession.graceNanos(s.agent) else { still.append(id); continue }
            let agent = s.compiled
            guard let i = outlivedIndex, agent.rules[i].settings.enabled else { continue }
            let ctx = RuleContext(session: s, table: table, protectedPids: protectedPids, roots: s.roots, tether: tether,
                                  external: externalProcess, credentialContent: credentialContent, learnedHomes: s.hasLearnedHomes,
                                  homes: s.activeHomes, modified: nil, path: nil, pathMask: 0, execName: nil,
                                  modifiedInWorkspace: false, modifiedMayWrite: false)
            // Dedupe (rule, pid) in finding() keeps a member the rule already reported from a second finding.
            for m in table.members(of: id) where m.pid != s.rootPid {
                let hit = OutlivedSession.hit(pid: m.pid, record: m, ctx: ctx, now: now)
                var trigger = Event(kind: .exit, time: exit, pid: s.rootPid, session: id)
                trigger.exe = table.lookup(s.rootPid)?.exe
                if let f = finding(hit, rule: agent.rules[i], index: i, event: trigger, session: s, agent: agent, table: table, time: now) {
                    out.append(f)
                }
            }
        }
        sessions.awaitingGrace = still
        return out
    }

    // MARK: - Internals

    private var homes: [UInt32: String?] = [:]
    private func home(of uid: UInt32) -> String? {
        if let h = homes[uid] { return h }
        let h = homeDirectory(uid)
        homes[uid] = h
        return h
    }

    /// A session the kernel started by itself (a policy match), or one first seen mid-life
    /// (after a restart). Its agent is the one its events carry: never guessed here.
    private func adopt(_ e: Event, table: ProcessTable) -> SessionState {
        let root = e.root != 0 ? e.root : e.pid
        let ws = root == e.pid ? (e.cwd ?? table.lookup(e.pid)?.cwd.nonEmpty) : table.lookup(root)?.cwd.nonEmpty
        let s = SessionState(id: e.session, rootPid: root, compiled: compiled(e.agent), agentFixed: false,
                             workspace: ws.map { Paths.normalize($0) }, time: e.time)
        sessions.insert(s)
        return s
    }

    private func finding(_ hit: RuleHit, rule r: CompiledRule, index: Int, event e: Event, session s: SessionState,
                         agent: CompiledAgent, table: ProcessTable, time: UInt64? = nil) -> Finding? {
        let pid = hit.pid ?? e.pid
        if !r.settings.ignoreExe.isEmpty {
            let exe = pid == e.pid ? (e.exe ?? table.lookup(pid)?.exe) : table.lookup(pid)?.exe
            if let exe, r.settings.ignoreExe.contains(where: { $0.matches(exe) }) { return nil }
        }
        if let path = hit.path, let globs = s.roots.ignorePaths[index], globs.contains(where: { $0.matches(path) }) { return nil }
        let key = SessionState.DedupeKey(rule: index, pid: hit.perProcess ? pid : 0, subject: hit.subject)
        guard s.reported.insert(key).inserted else { return nil }
        s.findingCount += 1
        let severity: Severity = hit.inWorkspace ? .low : r.settings.severity
        let action: Action = hit.inWorkspace ? .alert : r.settings.action
        var f = Finding(rule: r.info.id, severity: severity, mitre: r.info.mitre, message: hit.message,
                        session: s.id, pid: pid, ancestry: table.ancestry(pid), events: hit.related + [e],
                        action: action, enforced: s.mode == .enforce, time: time ?? e.time, agent: agent.policy.name)
        if let p = hit.path, p != e.newPath ?? e.path { f.path = p }
        return f
    }

    /// getpwuid_r: the passwd database's home for a uid.
    public static func passwdHome(_ uid: UInt32) -> String? {
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buf = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid_t(uid), &pw, &buf, buf.count, &result) == 0, result != nil, let dir = pw.pw_dir else { return nil }
        let home = String(cString: dir)
        return home.isEmpty ? nil : home
    }
}

fileprivate extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
