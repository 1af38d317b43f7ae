import Foundation

/// The agents' own configuration that runs commands: Claude Code's settings (hooks run a
/// shell command at every tool call, session start or stop), MCP server entries (a command
/// each client starts), Codex's `notify` and MCP servers, Gemini CLI's, Cursor's, Continue's
/// and aider's (`lint-cmd`, `test-cmd`). Whatever writes there decides what the next agent
/// session, or the operator's own, runs: persistence, even though the policy lets agents
/// write the rest of their own directories (caches, sessions, history). Files inside the
/// workspace (a project's `.claude/settings.json`) are the project's, judged as workspace
/// work. Not covered: `~/.claude.json`, which Claude Code rewrites at every start (its
/// state) and which can also hold user-scope MCP servers: telling the two apart needs its
/// content, not its name (README).
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

    /// What a read of the file found: its servers that run a command, no file at all (Claude
    /// Code makes it again), or something Tether cannot judge (and Claude Code may still read).
    public enum Reading: Sendable, Equatable {
        case servers([Server: String])
        case absent
        case unjudgeable(String)
    }

    /// The most of it that is read.
    public static let readLimit = 64 << 20

    /// The reading of a file's bytes (read whole).
    public static func reading(_ bytes: [UInt8]) -> Reading {
        commands(bytes).map(Reading.servers) ?? .unjudgeable("not a JSON object")
    }

    /// "command arg…" of every MCP server in the file's JSON that runs a command. nil: not
    /// a JSON object.
    public static func commands(_ bytes: [UInt8]) -> [Server: String]? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
        var out: [Server: String] = [:]
        func scan(_ servers: Any?, scope: String) {
            guard let list = servers as? [String: Any] else { return }
            for (name, v) in list {
                guard let d = v as? [String: Any], let cmd = d["command"] as? String else { continue }
                let args = (d["args"] as? [Any] ?? []).compactMap { $0 as? String }
                out[Server(scope: scope, name: name)] = ([cmd] + args).joined(separator: " ")
            }
        }
        scan(o["mcpServers"], scope: "user")
        for (project, p) in o["projects"] as? [String: Any] ?? [:] { scan((p as? [String: Any])?["mcpServers"], scope: project) }
        return out
    }
}

/// What each home's `~/.claude.json` held, host-wide: taken before sessions write it (the
/// front end seeds the homes it knows before anything runs; a home learned later when it is
/// learned), and moved on each time a session's writes are judged, so a server is reported
/// once. Locked: seeded from the front end's thread, read by the classifier's.
public final class AgentStateBaselines: @unchecked Sendable {
    private let lock = NSLock()
    private var servers: [String: [ClaudeState.Server: String]] = [:]
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
            var found: [ClaudeState.Server: String] = [:]
            if case .servers(let s) = read(path) { found = s }
            lock.lock()
            if servers[path] == nil { servers[path] = found }
            lock.unlock()
        }
    }

    /// The servers in `now` that `path` did not hold (or held with another command), and
    /// `now` becomes its baseline.
    func added(_ path: String, now: [ClaudeState.Server: String]) -> [ClaudeState.Server: String] {
        lock.lock()
        defer { lock.unlock() }
        let before = servers[path] ?? [:]
        servers[path] = now
        return now.filter { before[$0.key] != $0.value }
    }
}
