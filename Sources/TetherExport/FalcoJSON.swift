import Foundation

/// A format a file option takes as `FILE,format=NAME` (`--alerts`, `--alerts-json`,
/// `--events`): one parser for all of them, so they split and refuse the same way.
public protocol FileFormat: RawRepresentable, CaseIterable where RawValue == String {
    /// The format of a plain `FILE`.
    static var plain: Self { get }
}

extension FileFormat {
    /// "FILE" or "FILE,format=NAME". The last `,format=` counts: a file's name may hold commas.
    public static func parse(destination: String) throws -> (path: String, format: Self) {
        guard let r = destination.range(of: ",format=", options: .backwards) else { return (destination, plain) }
        let name = String(destination[r.upperBound...])
        guard let f = Self(rawValue: name.lowercased()) else {
            throw ExportError("\(destination): unknown format \(name) (expected \(allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let path = String(destination[..<r.lowerBound])
        guard !path.isEmpty else { throw ExportError("\(destination): no file before ,format=") }
        return (path, f)
    }
}

/// How an alert file or stream encodes each alert: Tether's own JSON, Falco's, or OCSF's.
public enum AlertFormat: String, Sendable, FileFormat {
    case tether, falco, ocsf

    public static var plain: AlertFormat { .tether }

    public func encode(_ a: AlertRecord) -> String {
        switch self {
        case .tether: return AlertJSON.encode(a)
        case .falco: return FalcoJSON.encode(a)
        case .ocsf: return OCSFJSON.encode(a)
        }
    }
}

/// An alert as Falco itself writes one with `json_output`, so that falcosidekick and the
/// dashboards built on Falco take Tether's alerts as they are (README, "Falco format"):
/// `time` RFC 3339 with nanoseconds, `priority` in Falco's spelling, `output` as Falco
/// formats it, `source`, `tags`, `hostname`, and `output_fields` with Falco's dotted field
/// names where Tether has the same fact, Tether's own under `tether.*`.
public enum FalcoJSON {
    /// Falco's priorities, as it spells them, for Tether's severities.
    public static func priority(_ s: AlertSeverity) -> String {
        switch s {
        case .critical: return "Critical"
        case .high: return "Error"
        case .medium: return "Warning"
        case .low: return "Notice"
        }
    }

    static let hostname: String = {
        var b = [CChar](repeating: 0, count: 256)
        return gethostname(&b, b.count - 1) == 0 ? String(cString: b) : ""
    }()

    /// "2026-12-02T03:04:05.123456000Z": Falco's nanoseconds (Tether's clock has microseconds).
    static func time(_ d: Date) -> String {
        let t = Timestamp.rfc3339(d) // ...ss.uuuuuuZ
        return String(t.dropLast()) + "000Z"
    }

    public static func encode(_ a: AlertRecord) -> String {
        var fields: [String: Any] = [:]
        let nanos = (a.time.timeIntervalSince1970 * 1e6).rounded() * 1000
        fields["evt.time"] = Int64(nanos)
        if let kind = a.events.last?["kind"]?.stringValue { fields["evt.type"] = kind }
        if let p = a.pid { fields["proc.pid"] = Int(p) }
        if let me = a.ancestry.first {
            fields["proc.cmdline"] = me.argv.joined(separator: " ")
            fields["proc.ppid"] = Int(me.ppid)
            if let c = me.cwd { fields["proc.cwd"] = c }
        }
        if a.ancestry.count > 1 { fields["proc.pcmdline"] = a.ancestry[1].argv.joined(separator: " ") }
        if let exe = a.exe {
            fields["proc.exepath"] = exe
            fields["proc.name"] = String(exe.split(separator: "/").last ?? Substring(exe))
        }
        if case .int(let uid)? = a.events.last?["uid"] { fields["user.uid"] = Int(uid) }
        if let p = a.path { fields["fd.name"] = p } else if let addr = a.address { fields["fd.name"] = addr }
        fields["tether.rule"] = a.rule
        fields["tether.severity"] = a.severity.rawValue
        fields["tether.action"] = a.action
        fields["tether.enforced"] = a.enforced
        if !a.session.isEmpty { fields["tether.session"] = a.session }
        if let g = a.agent { fields["tether.agent"] = g }
        if let o = a.outcome { fields["tether.outcome"] = o }
        if !a.mitre.isEmpty { fields["tether.mitre"] = a.mitre }
        for (k, v) in a.details { fields["tether." + k] = v }

        let family = a.rule.split(separator: ".").first.map(String.init) ?? "tether"
        var tags = ["tether", family]
        if !a.mitre.isEmpty { tags.append(a.mitre) }
        let when = time(a.time)
        // Falco's output: "HH:MM:SS.nnnnnnnnn: Priority text (field=value ...)"
        let clock = when.split(separator: "T").last.map { String($0.dropLast()) } ?? when
        let context = ["proc.pid", "proc.exepath", "proc.cmdline", "fd.name", "tether.session", "tether.agent", "tether.outcome"]
            .compactMap { k in fields[k].map { "\(k)=\($0)" } }.joined(separator: " ")
        let output = "\(clock): \(priority(a.severity)) \(a.message)\(context.isEmpty ? "" : " (\(context))")"
        let body: [String: Any] = [
            "time": when, "rule": a.rule, "priority": priority(a.severity), "output": output, "source": "syscall",
            "tags": tags, "hostname": hostname, "output_fields": fields,
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
