/// What a policy file says: which agents to watch, the boundary each may act in, and how
/// each rule reacts. Loaded by `PolicyLoader` (YAML, every error with file:line:column);
/// `Policy.default` is the built-in policy that `systemd/policy.yaml` spells out.

public enum Severity: String, Sendable, CaseIterable, Comparable, Codable {
    case low, medium, high, critical
    private var rank: Int {
        switch self { case .low: 0; case .medium: 1; case .high: 2; case .critical: 3 }
    }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// What enforce mode does about a finding: keep a record only, freeze the session for a
/// human (resumable), ask the session to end (SIGTERM, then SIGKILL after the agent's
/// `term_grace`), or kill the session.
public enum Action: String, Sendable, CaseIterable, Codable {
    case alert, stop, term, kill
}

/// `monitor`: findings only, never a signal. `enforce`: findings carry out their action.
public enum EnforcementMode: String, Sendable, CaseIterable, Codable {
    case monitor, enforce
}

/// A host's own server that runs commands for whoever connects to it (the policy's
/// `deputies:`): by its executable, the file the kernel runs; or, for one an interpreter
/// runs (its executable is python's), by the interpreter and the script it was started with.
public struct Deputy: Sendable, Equatable {
    public var executable: String
    public var script: String?
    public init(_ executable: String, script: String? = nil) {
        self.executable = executable
        self.script = script
    }
    /// How findings name it: the file name of its script, or of its executable.
    public var name: String { String(PathBytes.basename(script ?? executable)) }
}

public struct Policy: Sendable, Equatable {
    public var version: Int
    /// The agent configuration for sessions no `agents` entry matches (e.g. `tether run`).
    /// Every agent inherits from it.
    public var defaults: AgentPolicy
    /// Agents the daemon watches by itself, in file order (the first match wins).
    public var agents: [AgentPolicy]
    /// The file the policy came from ("<built-in>" for `Policy.default`).
    public var source: String
    /// Where each agent is defined ("LINE:COLUMN"), for messages.
    public var agentLocations: [String: String] = [:]
    /// This host's own servers that run commands for whoever connects to them, judged as
    /// the built-in deputies are (`Deputies`).
    public var deputies: [Deputy] = []

    public init(version: Int = 1, defaults: AgentPolicy, agents: [AgentPolicy] = [], source: String = "<built-in>") {
        self.version = version
        self.defaults = defaults
        self.agents = agents
        self.source = source
    }

    /// The agent with that name; "default" (or nil) names `defaults`.
    public func agent(named name: String?) -> AgentPolicy {
        guard let name, name != defaults.name else { return defaults }
        return agents.first { $0.name == name } ?? defaults
    }

    public static func == (a: Policy, b: Policy) -> Bool {
        a.version == b.version && a.defaults == b.defaults && a.agents == b.agents
    }
}

/// Which processes start an agent session: any entry of any field selects (OR), the way
/// the kernel's watches are installed (one per executable, command name, uid, cgroup).
/// An empty match selects nothing. When several agents select a process, see
/// `Policy.selectAgent` for which one gets it.
public struct AgentMatch: Sendable, Equatable {
    /// Absolute path globs of the executable.
    public var exe: [String] { exeGlobs.map(\.pattern) }
    /// Command names (the kernel's 15-byte `comm`).
    public var comm: [String]
    public var uid: [UInt32]
    /// cgroup v2 paths (globs), as in /proc/PID/cgroup: "/user.slice/...".
    public var cgroup: [String] { cgroupGlobs.map(\.pattern) }

    public var exeGlobs: [Glob]
    public var cgroupGlobs: [Glob]

    public init(exe: [Glob] = [], comm: [String] = [], uid: [UInt32] = [], cgroup: [Glob] = []) {
        exeGlobs = exe
        self.comm = comm
        self.uid = uid
        cgroupGlobs = cgroup
    }

    public var isEmpty: Bool { exeGlobs.isEmpty && comm.isEmpty && uid.isEmpty && cgroupGlobs.isEmpty }
}

/// One agent's configuration, already merged with `defaults`.
public struct AgentPolicy: Sendable, Equatable {
    public var name: String
    public var match: AgentMatch
    public var mode: EnforcementMode
    public var boundary: Boundary
    /// Seconds a session member may outlive the session's root before
    /// `persist.outlived_session` fires.
    public var gracePeriod: Double
    /// Seconds between SIGTERM and SIGKILL for the `term` action.
    public var termGrace: Double = 5
    /// What the kernel refuses to the sessions Tether launches in enforce mode.
    public var confine = ConfinementPolicy()
    /// When Tether refuses an operation, kills a member or stops the session, one line on
    /// the stderr (a terminal or pipe only) of the offender or its nearest live ancestor in
    /// the session says why, so the agent's tool output shows it.
    public var tellAgent = true
    /// Rule settings in file order: defaults' entries first, then the agent's. Resolve with
    /// `settings(for:)`.
    public var rules: [RuleSettings]

    public init(name: String, match: AgentMatch = AgentMatch(), mode: EnforcementMode = .monitor,
                boundary: Boundary = Boundary(), gracePeriod: Double = 10, rules: [RuleSettings] = []) {
        self.name = name
        self.match = match
        self.mode = mode
        self.boundary = boundary
        self.gracePeriod = gracePeriod
        self.rules = rules
    }

    /// The effective settings of one rule: its built-in defaults, then every entry whose
    /// key matches in file order (a family glob such as `persist.*`, or the exact id).
    public func settings(for rule: RuleInfo) -> ResolvedRuleSettings {
        var r = ResolvedRuleSettings(enabled: true, severity: rule.severity, action: rule.action, ignoreExe: [], ignorePaths: [])
        for s in rules where s.selects(rule.id) {
            if let v = s.enabled { r.enabled = v }
            if let v = s.severity { r.severity = v }
            if let v = s.action { r.action = v }
            r.ignoreExe += s.ignoreExe
            r.ignorePaths += s.ignorePaths
        }
        return r
    }
}

/// Where a session may act. Roots are absolute paths; `~` is the session user's home and
/// `$UID` its uid, expanded when the session starts. A root may be a glob; it then covers
/// what it matches and everything below.
public struct Boundary: Sendable, Equatable {
    /// Workspace roots besides the session's own workspace (read/write).
    public var workspace: [String]
    /// Roots the agent may read even where a credential or other-home rule would fire.
    public var readOnly: [String]
    /// Roots the agent may modify besides its workspace (temp dirs, its own caches).
    public var writable: [String]
    public var network: NetworkPolicy

    public init(workspace: [String] = [], readOnly: [String] = [], writable: [String] = [], network: NetworkPolicy = NetworkPolicy()) {
        self.workspace = workspace
        self.readOnly = readOnly
        self.writable = writable
        self.network = network
    }
}

public struct PortRange: Sendable, Equatable, CustomStringConvertible {
    public var low: UInt16
    public var high: UInt16
    public init(_ low: UInt16, _ high: UInt16) { self.low = low; self.high = high }
    public func contains(_ p: UInt16) -> Bool { p >= low && p <= high }
    public var description: String { low == high ? "\(low)" : "\(low)-\(high)" }
}

/// One allow-list entry: any of the networks, on any of the ports (no ports = every port).
public struct NetworkAllow: Sendable, Equatable {
    public var cidrs: [CIDR]
    public var ports: [PortRange]
    public init(cidrs: [CIDR], ports: [PortRange] = []) { self.cidrs = cidrs; self.ports = ports }

    public func allows(_ a: IPAddress, port: UInt16) -> Bool {
        guard cidrs.contains(where: { $0.contains(a) }) else { return false }
        return ports.isEmpty || ports.contains { $0.contains(port) }
    }
}

public struct NetworkPolicy: Sendable, Equatable {
    /// Loopback (and the unspecified address, which reaches this host) is always allowed
    /// unless this is false.
    public var allowLoopback: Bool
    public var allow: [NetworkAllow]
    public init(allowLoopback: Bool = true, allow: [NetworkAllow] = []) {
        self.allowLoopback = allowLoopback
        self.allow = allow
    }

    public func allows(_ a: IPAddress, port: UInt16) -> Bool {
        if allowLoopback, a.isLoopback { return true }
        return allow.contains { $0.allows(a, port: port) }
    }
}

/// One `rules:` entry; nil fields inherit.
public struct RuleSettings: Sendable, Equatable {
    /// A rule id (`persist.cron`) or a glob over ids (`persist.*`).
    public var key: String
    public var enabled: Bool?
    public var severity: Severity?
    public var action: Action?
    /// Processes (executable globs) this rule ignores.
    public var ignoreExe: [Glob]
    /// Paths (globs) this rule ignores.
    public var ignorePaths: [Glob]
    private var keyGlob: Glob?

    public init(key: String, enabled: Bool? = nil, severity: Severity? = nil, action: Action? = nil,
                ignoreExe: [Glob] = [], ignorePaths: [Glob] = []) {
        self.key = key
        self.enabled = enabled
        self.severity = severity
        self.action = action
        self.ignoreExe = ignoreExe
        self.ignorePaths = ignorePaths
        let g = try? Glob(key)
        keyGlob = g?.hasWildcards == true ? g : nil
    }

    public func selects(_ id: String) -> Bool { keyGlob?.matches(id) ?? (key == id) }
}

public struct ResolvedRuleSettings: Sendable, Equatable {
    public var enabled: Bool
    public var severity: Severity
    public var action: Action
    public var ignoreExe: [Glob]
    public var ignorePaths: [Glob]
}
