/// Everything Tether remembers of one session, in one place: who started it and under
/// which agent (the kernel's decision), its boundary (compiled for its user), the process
/// relations rules need, what has been reported and what was done about it. Rules read
/// it; only the engine (`observe`) changes what rules depend on, after they have seen the
/// event. Owned by a `SessionRegistry`, which outlives policy reloads.
public final class SessionState {
    public let id: SessionID
    public let rootPid: Int32
    /// The agent the session runs under (the kernel's decision; see `bind`).
    public var agent: AgentPolicy { compiled.policy }
    private(set) var compiled: CompiledAgent
    /// `agent.name`, kept apart: each event's agent is compared with it.
    private(set) var agentName: String
    /// Set by `beginSession` with an explicit agent (`tether replay --agent`): the events'
    /// own agent does not rebind it.
    let agentFixed: Bool
    /// What the kernel's guards did for the session at its latest event.
    public internal(set) var mode: EnforcementMode = .monitor
    /// Who started it, for people: "tether run: make", "adopted", "policy match".
    public var label: String?
    /// The action the responder carried out on the session, if any (nil again once a person
    /// resumed it).
    public var response: Action?
    /// Launched with a kernel confinement (Landlock, seccomp): a refused attempt is the
    /// containment itself, and the session goes on.
    public var confined = false
    /// The workspace `tether run` gave, or the root's working directory.
    public private(set) var workspacePath: String?
    public let startTime: UInt64
    /// The boundary compiled for the session's user; empty until its first event.
    private(set) var roots = SessionRoots()
    public var prepared: Bool { roots.prepared }
    public var uid: UInt32 { roots.uid }
    public var home: String? { roots.home }
    /// The session's homes beyond /home and /root: its user's passwd home, and those its
    /// members were exec'd with (`HomeRoots`).
    public private(set) var homes = HomeRoots(passwd: nil)
    /// The agent's writable and read-only roots written `~/…`, as they read in the homes
    /// learned from its members' execs (their caches are theirs, wherever HOME is).
    private(set) var homeWritable = RootSet()
    private(set) var homeReadOnly = RootSet()
    /// A home beyond the passwd one is known (the roots above are not empty).
    private(set) var hasLearnedHomes = false
    /// `homes` when they hold anything beyond /home and /root (nil: the fast paths apply).
    private(set) var activeHomes: HomeSet?

    /// When the root exited (boot ns), nil while it lives.
    public internal(set) var rootExitTime: UInt64?

    /// parent -> children (session members), to see who is orphaned when a parent exits.
    var children: [Int32: Set<Int32>] = [:]
    /// Called setsid, or descends from one that did.
    var detached: Set<Int32> = []
    /// Their parent exited while they lived (reparented away from the session tree).
    var orphaned: Set<Int32> = []
    /// Made a connection or sent a datagram beyond loopback (kept after exit: a download
    /// is judged when its file runs, which may be later).
    var egress: Set<Int32> = []
    /// Files written outside the workspace, with the writing event and a later chmod +x.
    var staged: [String: StagedFile] = [:]
    static let stagedLimit = 65_536

    var reported: Set<DedupeKey> = []
    public internal(set) var findingCount = 0

    /// What is kept of a write outside the workspace: enough to rebuild the event as
    /// evidence (copying every such event would cost more than the rest of the classifier).
    struct StagedFile {
        var writer: Int32
        var ppid: Int32
        var uid: UInt32
        var euid: UInt32
        var result: Int64
        var time: UInt64
        var kind: EventKind
        var flags: UInt64?
        var mode: UInt32?
        var comm: String
        var chmod: Event?

        init(_ e: Event) {
            writer = e.pid
            ppid = e.ppid
            uid = e.uid
            euid = e.euid
            result = e.result
            time = e.time
            kind = e.kind
            flags = e.flags
            mode = e.mode
            comm = e.comm
        }

        /// The write as an event (for a finding's evidence).
        func event(path: String, session: SessionID) -> Event {
            var e = Event(kind: kind, time: time, pid: writer, ppid: ppid, uid: uid, euid: euid, session: session,
                          result: result, comm: comm)
            if kind == .rename || kind == .link { e.newPath = path } else { e.path = path }
            e.flags = flags
            e.mode = mode
            return e
        }
    }

    struct DedupeKey: Hashable {
        var rule: Int
        var pid: Int32
        var subject: String
    }

    init(id: SessionID, rootPid: Int32, compiled: CompiledAgent, agentFixed: Bool, workspace: String?, time: UInt64) {
        self.id = id
        self.rootPid = rootPid
        self.compiled = compiled
        agentName = compiled.policy.name
        self.agentFixed = agentFixed
        self.workspacePath = workspace
        self.startTime = time
    }

    /// Puts the session under `agent` (a reload compiled it anew, or the kernel retired the
    /// session's agent): its boundary is compiled again at its next event.
    func bind(_ agent: CompiledAgent) {
        guard agent !== compiled else { return }
        compiled = agent
        agentName = agent.policy.name
        roots = SessionRoots()
    }

    /// Compiles the boundary for the session's user. Called with the session's first event:
    /// before it, the uid (and so `~`) is unknown.
    func prepare(uid: UInt32, home: String?, fallbackWorkspace: String?, rules: [CompiledRule]) {
        if workspacePath == nil { workspacePath = fallbackWorkspace }
        var ws = agent.boundary.workspace
        // "/" as a workspace would make the whole host the workspace: it counts as none.
        if let w = workspacePath, w != "/" { ws.insert(w, at: 0) }
        roots = SessionRoots(uid: uid, home: home, workspace: ws, agent: agent, rules: rules)
        homes.include(home) // learned homes stay across a reload: they are the members' own
        expandHomeRoots()
    }

    /// The homes an exec's environment names (`Event.env`), from that exec on. True if one
    /// was new to the session.
    @discardableResult
    func learnHomes(_ env: [String]) -> Bool {
        guard !homes.learn(env).isEmpty else { return false }
        expandHomeRoots()
        return true
    }

    private func expandHomeRoots() {
        activeHomes = homes.set
        hasLearnedHomes = homes.learnedAny
        guard hasLearnedHomes else { homeWritable = RootSet(); homeReadOnly = RootSet(); return }
        homeWritable = RootSet(agent.boundary.writable.flatMap(homes.expand), home: nil, uid: roots.uid)
        homeReadOnly = RootSet(agent.boundary.readOnly.flatMap(homes.expand), home: nil, uid: roots.uid)
    }

    /// Claude Code's state files (`~/.claude.json` of a session home) the session wrote,
    /// with the last writer, judged by content at the next tick or the session's end.
    var agentStateWritten: [String: Int32] = [:]

    /// Updates the relations rules depend on. Runs after the rules saw `e`.
    func observe(_ e: Event, modified: (path: String, op: FileOp)?, inWorkspace: Bool, table: ProcessTable) {
        switch e.kind {
        case .fork:
            guard e.succeeded, let child = e.target else { return }
            children[e.pid, default: []].insert(child)
            if detached.contains(e.pid) { detached.insert(child) }
            orphaned.remove(child)
            egress.remove(child)
        case .setsid:
            if e.succeeded { detached.insert(e.pid) }
        case .exit:
            if e.pid == rootPid, rootExitTime == nil { rootExitTime = e.time }
            if let kids = children.removeValue(forKey: e.pid), e.pid != rootPid {
                for c in kids where table.live[c] != nil { orphaned.insert(c) }
            }
            detached.remove(e.pid)
            orphaned.remove(e.pid)
        case .connect, .sendto:
            if let a = e.addr, e.family == .inet || e.family == .inet6, let ip = IPAddress(a), !ip.isLoopback {
                egress.insert(e.pid)
            }
        default:
            break
        }
        guard let (path, op) = modified, e.succeeded else { return }
        switch op {
        case .write, .create, .truncate, .link:
            guard !inWorkspace else { return }
            if staged[path] == nil, staged.count >= SessionState.stagedLimit { staged.removeAll(keepingCapacity: true) }
            staged[path] = StagedFile(e)
        case .rename:
            if let from = e.renameSource, !staged.isEmpty, let s = staged.removeValue(forKey: from), !inWorkspace {
                staged[path] = s
            }
        case .chmod:
            if e.addsExecBits, !staged.isEmpty, staged[path] != nil { staged[path]!.chmod = e }
        case .delete:
            if !staged.isEmpty { staged.removeValue(forKey: path) }
        default:
            break
        }
    }
}

/// A session's boundary for its user: workspace, writable and read-only roots with `~`
/// and `$UID` expanded, and the rules' `ignore_paths`. Immutable once built.
final class SessionRoots {
    let prepared: Bool
    let uid: UInt32
    let home: String?
    let workspace: RootSet
    /// Workspace roots that are not a home directory or above one (see `RuleContext.sanctionedRead`).
    let ownTree: RootSet
    let writable: RootSet
    let readOnly: RootSet
    let network: NetworkPolicy
    /// Per rule index: `ignore_paths` with `~` expanded for this user.
    let ignorePaths: [Int: [Glob]]

    init() {
        prepared = false
        uid = 0
        home = nil
        workspace = RootSet()
        ownTree = RootSet()
        writable = RootSet()
        readOnly = RootSet()
        network = NetworkPolicy()
        ignorePaths = [:]
    }

    init(uid: UInt32, home: String?, workspace ws: [String], agent: AgentPolicy, rules: [CompiledRule]) {
        prepared = true
        self.uid = uid
        self.home = home
        let workspace = RootSet(ws, home: home, uid: uid)
        self.workspace = workspace
        var own = RootSet()
        for root in workspace.texts where !SessionRoots.coversAHome(root, home: home) { own.add(root, home: home, uid: uid) }
        ownTree = own
        writable = RootSet(agent.boundary.writable, home: home, uid: uid)
        readOnly = RootSet(agent.boundary.readOnly, home: home, uid: uid)
        network = agent.boundary.network
        var ignore: [Int: [Glob]] = [:]
        for (i, r) in rules.enumerated() where !r.settings.ignorePaths.isEmpty {
            ignore[i] = r.settings.ignorePaths.compactMap { g in
                guard g.pattern.hasPrefix("~/") else { return g }
                guard let home else { return nil }
                return try? Glob(home + g.pattern.dropFirst())
            }
        }
        ignorePaths = ignore
    }

    /// Is `root` a home directory, or above one (/home, /)?
    private static func coversAHome(_ root: String, home: String?) -> Bool {
        if root == "/home" || root == "/root" || (home != nil && Paths.isWithin(home!, root)) { return true }
        return Homes.home(of: root, homes: HomeRoots(passwd: home).set).map { $0.utf8.count == root.utf8.count } ?? false
    }
}

/// The one owner of session state: every session Tether knows, whichever front end feeds
/// the events, across policy reloads (a new classifier takes the same registry).
public final class SessionRegistry {
    private(set) var byID: [SessionID: SessionState] = [:]
    /// Every home the sessions' members have been exec'd with beyond the passwd homes, for
    /// the kernel's guards (read from another thread than the classifier's).
    public let learnedHomes = LearnedHomes()
    /// What each home's `~/.claude.json` held before sessions wrote it.
    public let agentState = AgentStateBaselines()
    /// Sessions with a `~/.claude.json` written and not judged yet.
    var agentStatePending = Set<SessionID>()
    /// Sessions whose root exited and whose survivors `tick` has not looked for yet.
    var awaitingGrace: [SessionID] = []

    public init() {}

    public var count: Int { byID.count }
    public subscript(_ id: SessionID) -> SessionState? { byID[id] }
    public var all: [SessionState] { byID.values.sorted { $0.id < $1.id } }

    func insert(_ s: SessionState) { byID[s.id] = s }

    /// Forgets a session (once its last member is gone).
    public func end(_ id: SessionID) {
        byID[id] = nil
        awaitingGrace.removeAll { $0 == id }
    }
}
