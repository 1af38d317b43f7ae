import Foundation

extension SessionReport {
    /// One self-contained page (no script, no outside resource): the summary, the process
    /// tree and a timeline of everything the ledger recorded outside the workspace.
    public func html() -> String {
        func esc(_ s: String) -> String {
            var o = ""
            o.reserveCapacity(s.count)
            for c in s {
                switch c {
                case "&": o += "&amp;"
                case "<": o += "&lt;"
                case ">": o += "&gt;"
                case "\"": o += "&quot;"
                case "'": o += "&#39;"
                default: o.append(c)
                }
            }
            return o
        }
        var h = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
                 "<title>Tether session \(esc(sessionId))</title>",
                 "<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1b1f23}h1{font-size:1.4em}",
                 "h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}table{border-collapse:collapse;width:100%}",
                 "td,th{text-align:left;padding:2px 8px;border-bottom:1px solid #eee;vertical-align:top}code{font-size:12px}",
                 ".critical,.high{color:#b00020;font-weight:600}.medium{color:#a05a00}.low{color:#555}.bad{color:#b00020}.ok{color:#0b5d46}",
                 "ul.tree{list-style:none;padding-left:1.2em;border-left:1px dotted #bbb}</style></head><body>"]
        let v = ledger.verification
        h.append("<h1>Session <code>\(esc(sessionId))</code> — agent \(esc(begin["agent"] as? String ?? "?"))</h1>")
        h.append("<p>\(esc(begin["label"] as? String ?? "")) · started \(esc(begin["time"] as? String ?? "?")) · workspace <code>\(esc(begin["workspace"] as? String ?? "(none)"))</code></p>")
        h.append(v.ok ? "<p class=\"ok\">Ledger intact: \(v.intact) entries, head <code>\(esc(v.head))</code></p>"
                      : "<p class=\"bad\">Ledger ALTERED: \(esc(v.reason ?? ""))</p>")
        h.append("<h2>Findings (\(findings.count))</h2><table><tr><th>severity</th><th>rule</th><th>what</th><th>outcome</th></tr>")
        for f in findings {
            let s = f["severity"] as? String ?? ""
            h.append("<tr><td class=\"\(esc(s))\">\(esc(s.uppercased()))</td><td>\(esc(f["rule"] as? String ?? ""))</td><td>\(esc(f["message"] as? String ?? ""))</td><td>\(esc(f["outcome"] as? String ?? ""))</td></tr>")
        }
        h.append("</table><h2>Left behind</h2><ul>")
        for m in leftThen?["members"] as? [[String: Any]] ?? [] {
            h.append("<li>process \((m["pid"] as? NSNumber)?.intValue ?? 0): <code>\(esc((m["argv"] as? [String] ?? []).joined(separator: " ")))</code></li>")
        }
        for f in leftThen?["files"] as? [[String: Any]] ?? [] where f["state"] as? String != "gone" {
            h.append("<li>file <code>\(esc(f["path"] as? String ?? ""))</code> (\(esc(f["op"] as? String ?? "")), sha256 <code>\(esc(f["sha256"] as? String ?? "-"))</code>)</li>")
        }
        for p in leftThen?["persistence"] as? [String] ?? [] { h.append("<li>persistence location <code>\(esc(p))</code></li>") }
        h.append("</ul><h2>Process tree</h2>")
        var children: [Int32: [LedgerView.Exec]] = [:]
        var firstExec: [Int32: LedgerView.Exec] = [:]
        for e in view.execs where firstExec[e.pid] == nil { firstExec[e.pid] = e }
        for (pid, e) in firstExec where pid != view.root { children[view.parent[pid] ?? e.ppid, default: []].append(e) }
        func tree(_ pid: Int32, depth: Int) {
            guard depth < 64 else { return }
            let kids = (children[pid] ?? []).sorted { $0.seq < $1.seq }
            guard !kids.isEmpty else { return }
            h.append("<ul class=\"tree\">")
            for k in kids {
                h.append("<li><code>\(k.pid)</code> \(esc(k.argv.joined(separator: " ")))")
                tree(k.pid, depth: depth + 1)
                h.append("</li>")
            }
            h.append("</ul>")
        }
        if let r = firstExec[view.root] { h.append("<ul class=\"tree\"><li><code>\(r.pid)</code> \(esc(r.argv.joined(separator: " ")))") }
        tree(view.root, depth: 0)
        if firstExec[view.root] != nil { h.append("</li></ul>") }
        if let a = attribution {
            h.append("<h2>Against the agent's own record</h2><table><tr><th>#</th><th>tool call</th><th>pid</th><th>outside the workspace</th><th>after it returned</th></tr>")
            for c in a.calls {
                h.append("<tr><td>\(c.index)</td><td><code>\(esc(c.command ?? c.file ?? ""))</code></td><td>\(c.pid.map(String.init) ?? "none")</td><td>\(c.outside.map { esc($0.text) }.joined(separator: "<br>"))</td><td>\(c.afterReturn.map { esc($0.text) }.joined(separator: "<br>"))</td></tr>")
            }
            h.append("</table><p>Not accounted for by any tool call:</p><ul>")
            for e in a.unaccountedCommands + a.unaccountedEffects { h.append("<li><code>\(esc(e.text))</code> (pid \(e.pid))</li>") }
            h.append("</ul>")
        }
        h.append("<h2>Timeline</h2><table><tr><th>time</th><th>pid</th><th>what</th></tr>")
        for e in view.effects.sorted(by: { $0.bootNs < $1.bootNs }).prefix(5000) {
            h.append("<tr><td>\(esc(e.time))</td><td>\(e.pid)</td><td>\(esc(e.type)): \(esc(e.text))</td></tr>")
        }
        h.append("</table></body></html>")
        return h.joined(separator: "\n") + "\n"
    }
}
