import Foundation

/// `tether report`: what a session's processes really did, from its ledger, most serious
/// first; what it left behind, then and now; optionally cross-checked against the agent's
/// own record of its tool calls.
public struct SessionReport {
    public var ledger: Ledger
    public var view: LedgerView
    public var begin: [String: Any]
    public var findings: [[String: Any]]
    public var leftThen: [String: Any]?
    public var leftNow: LeftBehind?
    public var summary: [String: Any]?
    public var end: [String: Any]?
    public var attribution: Attribution?
    public var transcriptFormat: String?

    static let severityRank = ["critical": 0, "high": 1, "medium": 2, "low": 3]

    public init(_ ledger: Ledger, recheck: Bool = true) {
        self.ledger = ledger
        view = LedgerView(ledger.entries)
        begin = ledger.entries.first { $0["type"] as? String == "begin" } ?? [:]
        findings = ledger.entries.filter { $0["type"] as? String == "finding" }
            .sorted { (SessionReport.severityRank[$0["severity"] as? String ?? ""] ?? 9) < (SessionReport.severityRank[$1["severity"] as? String ?? ""] ?? 9) }
        leftThen = ledger.entries.last { $0["type"] as? String == "left_behind" }
        summary = ledger.entries.last { $0["type"] as? String == "summary" }
        end = ledger.entries.last { $0["type"] as? String == "end" }
        if recheck, let then = leftThen { leftNow = SessionReport.recheck(then) }
    }

    public mutating func crossCheck(_ calls: [ToolCall], format: Transcript.Format) {
        attribution = Attribution.attribute(calls, ledger: view)
        transcriptFormat = format.rawValue
    }

    /// What the session left behind, looked at again now.
    static func recheck(_ then: [String: Any]) -> LeftBehind {
        var now = LeftBehind()
        let sockets = (then["members"] as? [Any] ?? []).isEmpty ? [:] : LeftBehind.listeningSockets()
        for m in then["members"] as? [[String: Any]] ?? [] {
            guard let pid = (m["pid"] as? NSNumber)?.int32Value, kill(pid, 0) == 0 || errno == EPERM else { continue }
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
            guard exe == m["exe"] as? String else { continue } // the pid was reused
            now.members.append(.init(pid: pid, exe: exe, argv: m["argv"] as? [String] ?? [],
                                     listening: LeftBehind.socketInodes(pid).compactMap { sockets[$0] }.sorted()))
        }
        for f in then["files"] as? [[String: Any]] ?? [] {
            guard let p = f["path"] as? String else { continue }
            now.files.append(LeftBehind.state(p, op: f["op"] as? String ?? ""))
        }
        now.persistence = then["persistence"] as? [String] ?? []
        return now
    }

    var sessionId: String { begin["session"] as? String ?? "?" }
    var outsideFiles: [Effect] { view.effects.filter { $0.type == "file" } }
    var network: [Effect] { view.effects.filter { $0.type == "net" } }
    var privileged: [Effect] { view.effects.filter { $0.type == "priv" } }
    var refusals: [Effect] {
        // from the entries' own fields: a path the agent chose ("/tmp/x (EACCES)") is not a refusal
        view.effects.filter { $0.type != "finding" && $0.refused }
    }
    var credentialFindings: [[String: Any]] { findings.filter { ($0["rule"] as? String ?? "") == "escape.credentials" } }

    // MARK: text

    /// The human summary: a screen first (most serious first), then the detail.
    public func text(limit: Int = 20) -> String {
        var o: [String] = []
        let v = ledger.verification
        o.append("Session \(sessionId) — agent \(begin["agent"] as? String ?? "?")\((begin["label"] as? String).map { " — \($0)" } ?? "")")
        o.append("  started \(begin["time"] as? String ?? "?"), \(end.map { "ended \($0["time"] as? String ?? "?") (\($0["reason"] as? String ?? ""))" } ?? "not ended yet")")
        o.append("  workspace \(begin["workspace"] as? String ?? "(none)")\(begin["confined"] as? Bool == true ? ", confined (Landlock, seccomp)" : "")")
        o.append("  ledger \(ledger.path): " + (v.ok ? "\(v.intact) entries, chain intact, head \(v.head)"
                                                   : "ALTERED: \(v.reason ?? "") — \(v.intact) entries intact before it"))
        o.append("")
        o.append("Findings (\(findings.count)):")
        if findings.isEmpty { o.append("  none") }
        for f in findings.prefix(limit) {
            o.append("  \((f["severity"] as? String ?? "").uppercased()) \(f["rule"] as? String ?? "") — \(f["message"] as? String ?? "")\((f["outcome"] as? String).map { " -> \($0)" } ?? "")")
        }
        if findings.count > limit { o.append("  … and \(findings.count - limit) more (--json has all)") }
        o.append("")
        o.append("Left behind:")
        let now = leftNow
        let then = leftThen
        if then == nil { o.append("  not checked yet (the session has not settled)") }
        for m in then?["members"] as? [[String: Any]] ?? [] {
            let pid = (m["pid"] as? NSNumber)?.int32Value ?? 0
            let alive = now?.members.contains { $0.pid == pid } == true ? "still running now" : "gone now"
            let listening = (m["listening"] as? [String] ?? []).joined(separator: ", ")
            o.append("  process \(pid) \((m["argv"] as? [String] ?? []).joined(separator: " ")) (\(m["exe"] as? String ?? "?"))\(listening.isEmpty ? "" : ", listening on \(listening)") — \(alive)")
        }
        for f in then?["files"] as? [[String: Any]] ?? [] where f["state"] as? String != "gone" {
            let p = f["path"] as? String ?? ""
            let nowState = now?.files.first { $0.path == p }
            let changed = nowState.map { $0.sha256 != f["sha256"] as? String || $0.state != f["state"] as? String ? " — changed since" : "" } ?? ""
            o.append("  file \(p) (\(f["op"] as? String ?? ""); \(f["state"] as? String ?? "")\((f["size"] as? NSNumber).map { ", \($0) bytes" } ?? "")\((f["sha256"] as? String).map { ", sha256 \($0)" } ?? ""))\(changed)")
        }
        for p in then?["persistence"] as? [String] ?? [] { o.append("  persistence location touched: \(p)") }
        if let t = then, (t["members"] as? [Any] ?? []).isEmpty, ((t["files"] as? [[String: Any]]) ?? []).allSatisfy({ $0["state"] as? String == "gone" }), (t["persistence"] as? [Any] ?? []).isEmpty {
            o.append("  nothing")
        }
        if let a = attribution { o.append(""); o += crossCheckText(a, limit: limit) }
        o.append("")
        section(&o, "Files outside the workspace", SessionReport.grouped(outsideFiles), limit)
        section(&o, "Credential and secret reads", credentialFindings.map { LedgerView.describe($0) }, limit)
        section(&o, "Network (first use per process)", network, limit)
        if let d = summary?["destinations"] as? [[String: Any]], !d.isEmpty {
            section(&o, "Destinations (uses)", d.map { x in
                let port = (x["port"] as? NSNumber).map { ":\($0)" } ?? ""
                return "\(x["op"] as? String ?? "") \(x["family"] as? String ?? "") \(x["addr"] as? String ?? "")\(port)\(x["refused"] as? Bool == true ? " refused" : "") ×\((x["count"] as? NSNumber)?.intValue ?? 0)"
            }, limit)
        }
        section(&o, "Privileged operations", privileged, limit)
        section(&o, "Refused by the kernel", refusals, limit)
        o.append("Processes: \(view.execs.count) exec(s) in \(view.pids.count) process(es)")
        for e in view.execs.prefix(limit) { o.append("  \(e.pid) \(e.argv.joined(separator: " "))") }
        if view.execs.count > limit { o.append("  … and \(view.execs.count - limit) more") }
        if let ws = summary?["workspace_changes"] as? [String: NSNumber], !ws.isEmpty {
            let total = ws.values.reduce(0) { $0 + $1.intValue }
            o.append("Workspace: \(total) change(s) in \(ws.count) director\(ws.count == 1 ? "y" : "ies"): " + ws.sorted { $0.value.intValue > $1.value.intValue }.prefix(8).map { "\($0.key) (\($0.value))" }.joined(separator: ", "))
        }
        let lost = (summary?["events_lost_host"] as? NSNumber)?.intValue ?? 0
        o.append("Events lost while it ran (host-wide): \(lost)\(lost > 0 ? " — the ledger may miss some of what happened" : "")")
        if let n = (summary?["entries_not_written"] as? NSNumber)?.intValue, n > 0 { o.append("Ledger cap reached: \(n) entries not written") }
        return o.joined(separator: "\n") + "\n"
    }

    /// Each distinct text once, in first-seen order, with how often it came.
    static func counted(_ texts: [String]) -> [(String, Int)] {
        var order: [String] = [], n: [String: Int] = [:]
        for t in texts {
            if n[t] == nil { order.append(t) }
            n[t, default: 0] += 1
        }
        return order.map { ($0, n[$0]!) }
    }

    /// The same operation on the same path, once: how often, first and last time, by whom.
    static func grouped(_ effects: [Effect]) -> [String] {
        var order: [String] = []
        var rows: [String: (n: Int, first: String, last: String, pids: [Int32])] = [:]
        for e in effects {
            if var r = rows[e.text] {
                r.n += 1; r.last = e.time
                if !r.pids.contains(e.pid), r.pids.count < 8 { r.pids.append(e.pid) }
                rows[e.text] = r
            } else {
                order.append(e.text)
                rows[e.text] = (1, e.time, e.time, [e.pid])
            }
        }
        return order.map { t in
            let r = rows[t]!
            let when = r.n == 1 ? r.first : "\(r.n) times, first \(r.first), last \(r.last)"
            return "\(t) — pid \(r.pids.map(String.init).joined(separator: ", ")), \(when)"
        }
    }

    private func section(_ o: inout [String], _ title: String, _ effects: [Effect], _ limit: Int) {
        section(&o, title, effects.map { "\($0.text) — pid \($0.pid), \($0.time)" }, limit)
    }

    private func section(_ o: inout [String], _ title: String, _ lines: [String], _ limit: Int) {
        o.append("\(title) (\(lines.count)):")
        if lines.isEmpty { o.append("  none") }
        for l in lines.prefix(limit) { o.append("  " + l) }
        if lines.count > limit { o.append("  … and \(lines.count - limit) more") }
    }

    func crossCheckText(_ a: Attribution, limit: Int) -> [String] {
        var o = ["Against the agent's own record (\(transcriptFormat ?? "?"), \(a.calls.count) tool call(s)):"]
        o.append("  (a) not accounted for by any tool call: \(a.unaccountedCommands.count) command(s), \(a.unaccountedEffects.count) effect(s)")
        for e in (a.unaccountedCommands + a.unaccountedEffects).prefix(limit) { o.append("      \(e.text) — pid \(e.pid)") }
        for i in a.unmatched { o.append("      tool call #\(i) claims a command no process ran: \(a.calls[i - 1].command ?? "")") }
        let late = a.calls.filter { !$0.afterReturn.isEmpty }
        o.append("  (b) after their tool call had returned: \(late.reduce(0) { $0 + $1.afterReturn.count }) effect(s)")
        for c in late { for e in c.afterReturn.prefix(limit) { o.append("      #\(c.index) \(c.command ?? c.file ?? ""): \(e.text) — pid \(e.pid), \(e.time)") } }
        o.append("  (c) per tool call, outside the workspace:")
        for c in a.calls where !c.outside.isEmpty {
            o.append("      #\(c.index) \(c.command ?? c.file ?? "") (pid \(c.pid.map(String.init) ?? "-"), \(c.processes) process(es)):")
            // the same effect from many processes (every shell's failed nscd probe) once, counted
            let rows = SessionReport.counted(c.outside.map(\.text))
            for (text, n) in rows.prefix(limit) { o.append("          \(text)\(n > 1 ? " ×\(n)" : "")") }
            if rows.count > limit { o.append("          … and \(rows.count - limit) more") }
        }
        if !a.framework.isEmpty { o.append("  the agent framework's own processes, outside the workspace: \(a.framework.count) effect(s)") }
        return o
    }

    // MARK: JSON

    public func json() -> String {
        var o: [String: Any] = [
            "session": sessionId, "begin": begin, "findings": findings,
            "ledger": ["path": ledger.path, "intact": ledger.verification.intact, "head": ledger.verification.head,
                       "ok": ledger.verification.ok, "broken_at": ledger.verification.brokenAt as Any, "reason": ledger.verification.reason as Any],
            "files_outside": outsideFiles.map(SessionReport.dict), "network": network.map(SessionReport.dict),
            "privileged": privileged.map(SessionReport.dict), "refused": refusals.map(SessionReport.dict),
            "credential_reads": credentialFindings,
            "processes": view.execs.map { ["pid": $0.pid, "ppid": $0.ppid, "argv": $0.argv, "time": $0.effect.time] as [String: Any] },
        ]
        if let leftThen { o["left_behind"] = leftThen }
        if let leftNow {
            o["left_behind_now"] = ["members": leftNow.members.map { ["pid": $0.pid, "exe": $0.exe, "argv": $0.argv, "listening": $0.listening] as [String: Any] },
                                    "files": leftNow.files.map { ["path": $0.path, "state": $0.state, "size": $0.size as Any, "sha256": $0.sha256 as Any] as [String: Any] }]
        }
        if let summary { o["summary"] = summary }
        if let end { o["end"] = end }
        if let attribution, let d = try? JSONEncoder().encode(attribution), let a = try? JSONSerialization.jsonObject(with: d) {
            o["cross_check"] = a
            o["transcript_format"] = transcriptFormat
        }
        let data = (try? JSONSerialization.data(withJSONObject: SessionReport.clean(o), options: [.sortedKeys, .prettyPrinted])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func dict(_ e: Effect) -> [String: Any] { ["seq": e.seq, "text": e.text, "pid": e.pid, "time": e.time] }

    /// JSONSerialization refuses Optional's nil: made NSNull.
    static func clean(_ v: Any) -> Any {
        if let d = v as? [String: Any] { return d.mapValues(clean) }
        if let a = v as? [Any] { return a.map(clean) }
        let m = Mirror(reflecting: v)
        if m.displayStyle == .optional { return m.children.first.map { clean($0.value) } ?? NSNull() }
        return v
    }
}
