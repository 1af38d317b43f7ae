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
