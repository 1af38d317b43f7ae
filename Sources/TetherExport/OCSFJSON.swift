import Foundation

/// An alert as an OCSF Detection Finding (class 2004, category Findings), OCSF 1.2.0
/// (README, "OCSF format"): the rule as the finding's title, the process and its parent,
/// the file or network endpoint, what the kernel or the responder did as `action_id` /
/// `disposition_id`, and Tether's own fields under `unmapped.tether`.
public enum OCSFJSON {
    public static let version = "1.2.0"

    static func severity(_ s: AlertSeverity) -> (Int, String) {
        switch s {
        case .low: return (2, "Low")
        case .medium: return (3, "Medium")
        case .high: return (4, "High")
        case .critical: return (5, "Critical")
        }
    }

    /// OCSF's action (1 Allowed, 2 Denied) and disposition (2 Blocked, 3 Quarantined,
    /// 4 Isolated, 15 Detected) for what was done.
    static func disposition(_ a: AlertRecord) -> (action: Int, actionName: String, disposition: Int, dispositionName: String) {
        let outcome = a.outcome ?? ""
        guard a.enforced else { return (1, "Allowed", 15, "Detected") }
        if outcome.contains("undone") { return (2, "Denied", 3, "Quarantined") }
        if outcome.contains("refused") || a.action == "kill" || outcome.contains("killed") { return (2, "Denied", 2, "Blocked") }
        if a.action == "stop" || outcome.contains("stopped") { return (2, "Denied", 4, "Isolated") }
        return (1, "Allowed", 15, "Detected")
    }

    static func file(_ path: String) -> [String: Any] {
        ["path": path, "name": String(path.split(separator: "/").last ?? Substring(path)), "type_id": 1, "type": "Regular File"]
    }

    static func process(_ p: AlertProcess, parent: AlertProcess?) -> [String: Any] {
        var o: [String: Any] = ["pid": Int(p.pid), "cmd_line": p.argv.joined(separator: " "), "file": file(p.exe),
                                "name": String(p.exe.split(separator: "/").last ?? Substring(p.exe))]
        if let c = p.cwd { o["working_directory"] = c }
        if let parent { o["parent_process"] = process(parent, parent: nil) }
        return o
    }

    public static func encode(_ a: AlertRecord) -> String {
        let ms = Int64((a.time.timeIntervalSince1970 * 1000).rounded())
        let (sevID, sev) = severity(a.severity)
        let d = disposition(a)
        var finding: [String: Any] = ["title": a.rule, "desc": a.message,
                                      "uid": "\(a.session.isEmpty ? "host" : a.session)-\(a.rule)-\(ms)",
                                      "types": [a.rule.split(separator: ".").first.map(String.init) ?? "tether"],
                                      "product_uid": "tether"]
        if !a.mitre.isEmpty {
            finding["attacks"] = [["technique": ["uid": a.mitre]]]
        }
        var evidence: [String: Any] = [:]
        if let me = a.ancestry.first { evidence["process"] = process(me, parent: a.ancestry.count > 1 ? a.ancestry[1] : nil) }
        if let p = a.path { evidence["file"] = file(p) }
        if let addr = a.address {
            if let colon = addr.lastIndex(of: ":"), let port = Int(addr[addr.index(after: colon)...]) {
                evidence["dst_endpoint"] = ["ip": String(addr[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), "port": port]
            } else {
                evidence["dst_endpoint"] = ["name": addr] // a unix socket path
            }
        }
        var tether: [String: Any] = ["rule": a.rule, "action": a.action, "enforced": a.enforced]
        if !a.session.isEmpty { tether["session"] = a.session }
        if let g = a.agent { tether["agent"] = g }
        if let o = a.outcome { tether["outcome"] = o }
        if !a.details.isEmpty { tether["details"] = a.details }
        var body: [String: Any] = [
            "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2, "category_name": "Findings",
            "activity_id": 1, "activity_name": "Create", "type_uid": 200401, "type_name": "Detection Finding: Create",
            "time": ms, "severity_id": sevID, "severity": sev, "status_id": 1, "status": "New", "message": a.message,
            "action_id": d.action, "action": d.actionName, "disposition_id": d.disposition, "disposition": d.dispositionName,
            "metadata": ["version": version, "log_name": "tether", "uid": finding["uid"] as Any,
                         "product": ["name": "Tether", "vendor_name": "Tether", "uid": "tether"]],
            "finding_info": finding,
            "device": ["hostname": FalcoJSON.hostname, "type_id": 0, "type": "Unknown"],
            "unmapped": ["tether": tether],
        ]
        if !evidence.isEmpty { body["evidences"] = [evidence] }
        guard let data = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
