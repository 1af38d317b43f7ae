import Foundation

/// The agents' own configuration that runs commands: Claude Code's settings (hooks run a
/// shell command at every tool call, session start or stop), MCP server entries (a command
/// each client starts), Codex's `notify` and MCP servers, Gemini CLI's, Cursor's, Continue's
/// and aider's (`lint-cmd`, `test-cmd`). Whatever writes there decides what the next agent
/// session, or the operator's own, runs: persistence, even though the policy lets agents
/// write the rest of their own directories (caches, sessions, history). Files inside the
/// workspace (a project's `.claude/settings.json`) are the project's, judged as workspace
/// work. Not by name: `~/.claude.json`, which Claude Code rewrites at every start (its
/// state) and which can also hold MCP servers, is judged by its content (`ClaudeState`).
struct PersistAgentConfig: Rule, LocationGated {
    static let gate: [Place] = [.agentConfig]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.agent_config", severity: .high, action: .kill, mitre: "T1546",
                                    kinds: EventKind.modifying,
                                    title: "AI agents' configuration that runs commands (Claude Code hooks and settings, MCP server lists, Codex, Gemini, Cursor, Continue, aider)")

    static let locations = Locations(.agentConfig, system: [
        "/etc/claude-code/managed-settings.json", "/etc/claude-code/managed-mcp.json",
    ], home: [
        ".claude/settings.json", ".claude/settings.local.json", ".claude/hooks/", ".config/claude/settings.json",
        ".codex/config.toml", ".gemini/settings.json", ".cursor/mcp.json",
        ".continue/config.json", ".continue/config.yaml", ".continue/config.ts", ".aider.conf.yml",
        ".config/Claude/claude_desktop_config.json",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = PersistAgentConfig.locations.modified(e, ctx) else { return nil }
        return RuleHit(Describe.file("agent configuration that runs commands", path, op, e), subject: path, path: path)
    }
}

/// Claude Code's state file, `~/.claude.json`: its MCP servers that run a command (each
/// Claude Code session starts them) are persistence, the rest of it is not. Judged by
/// content: the servers it holds after a session wrote it, against those it held before.
public enum ClaudeState {
    public static let fileName = ".claude.json"
    static let suffix = Array("/.claude.json".utf8)

    /// Is `path` a home's `.claude.json`? (The caller knows which homes are the session's.)
    static func named(_ path: String) -> Bool {
        path.utf8.last == UInt8(ascii: "n") && PathBytes.hasSuffix(path, suffix)
    }

    /// An MCP server: its scope ("user" for the top level, a project's path for that
    /// project's local ones) and its name (which may hold any character, "/" included).
    public struct Server: Hashable, Sendable, Comparable {
        public let scope: String
        public let name: String
        public init(scope: String, name: String) { self.scope = scope; self.name = name }
        public static func < (a: Server, b: Server) -> Bool { (a.scope, a.name) < (b.scope, b.name) }
    }

    /// A server's definition: what it runs ("command arg…", for messages) and the whole of
    /// it as canonical JSON (sorted keys), which is what is compared: its `env` and `cwd`
    /// change what runs as much as its command does.
    public struct Definition: Hashable, Sendable {
        public let command: String
        public let json: Data
    }

    /// A server a session added (`before` nil) or whose definition it changed (`before`, the
    /// definition it replaced, is what enforce mode puts back).
    public struct Change: Hashable, Sendable {
        public let server: Server
        public let now: Definition
        public let before: Definition?

        /// The top-level keys of the definition that differ from `before`'s ("env", "args").
        var changedKeys: [String] {
            guard let before, let a = object(before.json), let b = object(now.json) else { return [] }
            return Set(a.keys).union(b.keys).sorted().filter { key in
                a[key].flatMap(canonical) != b[key].flatMap(canonical)
            }
        }
    }

    /// What a read of the file found: its servers that run a command, no file at all (Claude
    /// Code makes it again), or something Tether cannot judge (and Claude Code may still read).
    public enum Reading: Sendable, Equatable {
        case servers([Server: Definition])
        case absent
        case unjudgeable(String)
    }

    /// The most of it that is read.
    public static let readLimit = 64 << 20

    /// The reading of a file's bytes (read whole).
    public static func reading(_ bytes: [UInt8]) -> Reading {
        commands(bytes).map(Reading.servers) ?? .unjudgeable("not a JSON object")
    }

    /// Every MCP server in the file's JSON that runs a command. nil: not a JSON object.
    public static func commands(_ bytes: [UInt8]) -> [Server: Definition]? {
        guard let o = object(Data(bytes)) else { return nil }
        var out: [Server: Definition] = [:]
        func scan(_ servers: Any?, scope: String) {
            guard let list = servers as? [String: Any] else { return }
            for (name, v) in list {
                guard let d = v as? [String: Any], let cmd = d["command"] as? String, let json = canonical(d) else { continue }
                let args = (d["args"] as? [Any] ?? []).compactMap { $0 as? String }
                out[Server(scope: scope, name: name)] = Definition(command: ([cmd] + args).joined(separator: " "), json: json)
            }
        }
        scan(o["mcpServers"], scope: "user")
        for (project, p) in o["projects"] as? [String: Any] ?? [:] { scan((p as? [String: Any])?["mcpServers"], scope: project) }
        return out
    }

    static func object(_ data: Data) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) as? [String: Any]
    }

    /// Sorted-key JSON of a value (a definition, or one of its values), so that two
    /// readings of the same value compare equal whatever order the file had.
    static func canonical(_ v: Any) -> Data? {
        guard JSONSerialization.isValidJSONObject([v]) else { return nil } // what a parse gave always is
        return try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed])
    }
}

/// What each home's `~/.claude.json` held, host-wide: taken before sessions write it (the
/// front end seeds the homes it knows before anything runs; a home learned later when it is
/// learned), and moved on each time a session's writes are judged, so a server is reported
/// once. Locked: seeded from the front end's thread, read by the classifier's.
public final class AgentStateBaselines: @unchecked Sendable {
    private let lock = NSLock()
    private var servers: [String: [ClaudeState.Server: ClaudeState.Definition]] = [:]
    static let limit = 1024

    public init() {}

    /// Takes the baseline of each home's `.claude.json` not known yet (`read`; none when it
    /// is absent or cannot be judged).
    public func seed(homes: [String], read: (String) -> ClaudeState.Reading) {
        for h in homes where h.hasPrefix("/") {
            let path = (h == "/" ? "" : h) + "/" + ClaudeState.fileName
            lock.lock()
            let known = servers[path] != nil || servers.count >= AgentStateBaselines.limit
            lock.unlock()
            if known { continue }
            var found: [ClaudeState.Server: ClaudeState.Definition] = [:]
            if case .servers(let s) = read(path) { found = s }
            lock.lock()
            if servers[path] == nil { servers[path] = found }
            lock.unlock()
        }
    }

    /// The servers in `now` that `path` did not hold, or held defined otherwise; `now`
    /// becomes its baseline.
    func changes(_ path: String, now: [ClaudeState.Server: ClaudeState.Definition]) -> [ClaudeState.Change] {
        lock.lock()
        defer { lock.unlock() }
        let before = servers[path] ?? [:]
        servers[path] = now
        return now.compactMap { server, def in
            before[server] == def ? nil : ClaudeState.Change(server: server, now: def, before: before[server])
        }.sorted { $0.server < $1.server }
    }
}
