import Foundation

/// One tool call an agent says it made, from its own record of the session.
public struct ToolCall: Sendable, Equatable {
    /// 1-based, in the transcript's order.
    public var index: Int
    /// "bash" for a shell command; "edit" or "write" for a file tool.
    public var tool: String
    public var command: String?
    public var file: String?
    public var start: Date?
    public var end: Date?
    public init(index: Int, tool: String, command: String? = nil, file: String? = nil, start: Date? = nil, end: Date? = nil) {
        self.index = index
        self.tool = tool
        self.command = command
        self.file = file
        self.start = start
        self.end = end
    }
}

/// Agents' own records of their tool calls (see README, "Cross-checking the agent's record").
public enum Transcript {
    public enum Format: String, Sendable, CaseIterable {
        case auto
        /// One JSON object per line: {"command": ..., "time": ..., "end": ...} or {"file": ..., "tool": "edit"}.
        case toolCalls = "tool-calls"
        /// mini-swe-agent's trajectory JSON (its DefaultAgent's `output_path`).
        case miniSweAgent = "mini-swe-agent"
        /// Claude Code's session JSONL (~/.claude/projects/*/SESSION.jsonl): Bash, Edit, Write.
        case claudeCode = "claude-code"
    }

    public static func parse(_ data: Data, format: Format = .auto) throws -> (Format, [ToolCall]) {
        let f = format == .auto ? detect(data) : format
        switch f {
        case .miniSweAgent: return (f, try miniSweAgent(data))
        case .claudeCode: return (f, try claudeCode(data))
        default: return (.toolCalls, try toolCalls(data))
        }
    }

    static func detect(_ data: Data) -> Format {
        if let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any], o["messages"] is [Any] { return .miniSweAgent }
        for line in data.split(separator: UInt8(ascii: "\n")).prefix(50) {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { continue }
            if o["command"] != nil || o["file"] != nil { return .toolCalls }
            if o["sessionId"] != nil || o["message"] != nil { return .claudeCode }
        }
        return .toolCalls
    }

    static func lines(_ data: Data) throws -> [(Int, [String: Any])] {
        var out: [(Int, [String: Any])] = []
        for (i, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() where !line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw LedgerError("transcript line \(i + 1): not a JSON object")
            }
            out.append((i + 1, o))
        }
        return out
    }

    static func time(_ v: Any?) -> Date? {
        if let n = v as? NSNumber { return Date(timeIntervalSince1970: n.doubleValue) }
        if let s = v as? String { return LedgerStore.parseTime(s) }
        return nil
    }

    static func toolCalls(_ data: Data) throws -> [ToolCall] {
        try lines(data).enumerated().map { i, row in
            let (n, o) = row
            let command = o["command"] as? String, file = o["file"] as? String
            guard command != nil || file != nil else { throw LedgerError("transcript line \(n): neither \"command\" nor \"file\"") }
            return ToolCall(index: i + 1, tool: o["tool"] as? String ?? (command != nil ? "bash" : "edit"), command: command, file: file,
                            start: time(o["time"]), end: time(o["end"]))
        }
    }

    static func miniSweAgent(_ data: Data) throws -> [ToolCall] {
        guard let o = try JSONSerialization.jsonObject(with: data) as? [String: Any], let messages = o["messages"] as? [[String: Any]] else {
            throw LedgerError("not a mini-swe-agent trajectory: no \"messages\" list")
        }
        var out: [ToolCall] = []
        var lastObservation: Date?
        for (i, m) in messages.enumerated() {
            let extra = m["extra"] as? [String: Any]
            if m["role"] as? String == "assistant", let actions = extra?["actions"] as? [[String: Any]] {
                // the observation that follows carries the time the command returned
                let next = i + 1 < messages.count ? (messages[i + 1]["extra"] as? [String: Any])?["timestamp"] : nil
                for a in actions {
                    guard let c = a["command"] as? String else { continue }
                    out.append(ToolCall(index: out.count + 1, tool: "bash", command: c, start: lastObservation, end: time(next)))
                }
            } else if m["role"] as? String != "assistant", let t = time(extra?["timestamp"]) {
                lastObservation = t
            }
        }
        return out
    }

    static func claudeCode(_ data: Data) throws -> [ToolCall] {
        var out: [ToolCall] = []
        var byId: [String: Int] = [:]
        for (_, o) in try lines(data) {
            let t = time(o["timestamp"])
            guard let content = (o["message"] as? [String: Any])?["content"] as? [[String: Any]] else { continue }
            for c in content {
                if c["type"] as? String == "tool_use", let name = c["name"] as? String {
                    let input = c["input"] as? [String: Any] ?? [:]
                    var call = ToolCall(index: out.count + 1, tool: name.lowercased(), start: t)
                    switch name {
                    case "Bash": call.command = input["command"] as? String
                    case "Edit", "MultiEdit", "Write", "NotebookEdit":
                        call.tool = name == "Write" ? "write" : "edit"
                        call.file = (input["file_path"] ?? input["notebook_path"]) as? String
                    default: continue
                    }
                    guard call.command != nil || call.file != nil else { continue }
                    if let id = c["id"] as? String { byId[id] = out.count }
                    out.append(call)
                } else if c["type"] as? String == "tool_result", let id = c["tool_use_id"] as? String, let i = byId[id] {
                    out[i].end = t
                }
            }
        }
        return out
    }
}
