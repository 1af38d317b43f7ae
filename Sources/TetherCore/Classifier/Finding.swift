/// What a rule found: which rule, how bad, the evidence, and what was (or in monitor mode
/// would have been) done about it.
public struct Finding: Sendable, Equatable {
    public var rule: String
    public var severity: Severity
    /// MITRE ATT&CK technique (or tactic) id.
    public var mitre: String
    /// One line for a human.
    public var message: String
    public var session: SessionID
    /// The process that acted.
    public var pid: Int32
    /// The process and its ancestors, nearest first.
    public var ancestry: [ProcessRecord]
    /// The triggering event last; earlier events that are part of the evidence before it.
    public var events: [Event]
    /// What the policy says to do.
    public var action: Action
    /// True when the session's agent is in enforce mode and the action is to be carried
    /// out; false in monitor mode (the finding then says what enforce mode would do).
    public var enforced: Bool
    /// Kernel boot-time nanoseconds.
    public var time: UInt64
    /// The agent policy the session runs under.
    public var agent: String
    /// The file the finding is about when it is not the event's own (a hard link's
    /// existing name): what the alert's `path` names.
    public var path: String?
    /// MCP servers this finding reports added to Claude Code's state (the trigger's path),
    /// or changed there: what enforce mode removes from it, or puts back as it was.
    public var agentStateChanges: [ClaudeState.Change]?

    public init(rule: String, severity: Severity, mitre: String, message: String, session: SessionID, pid: Int32,
                ancestry: [ProcessRecord], events: [Event], action: Action, enforced: Bool, time: UInt64, agent: String) {
        self.rule = rule
        self.severity = severity
        self.mitre = mitre
        self.message = message
        self.session = session
        self.pid = pid
        self.ancestry = ancestry
        self.events = events
        self.action = action
        self.enforced = enforced
        self.time = time
        self.agent = agent
    }

    /// "HIGH persist.cron session 0123… pid 42 (crontab): message [kill, monitor]"
    public var summary: String {
        let who = ancestry.first.map { p -> String in
            let name = p.exe.isEmpty ? p.comm : String(PathBytes.basename(p.exe))
            return " (\(name))"
        } ?? ""
        let what = enforced ? action.rawValue : (action == .alert ? "alert" : "would \(action.rawValue): monitor mode")
        return "\(severity.rawValue.uppercased()) \(rule) [\(mitre)] session \(session) pid \(pid)\(who): \(message) [\(what)]"
    }
}
