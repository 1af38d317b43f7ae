import Foundation
import TetherCore

/// How bad a finding is. Mirrors TetherCore's `Severity` (low/medium/high/critical).
public enum AlertSeverity: String, Codable, Sendable, CaseIterable {
    case low, medium, high, critical
}

/// One alert, the one record every front end and every sink uses: tetherd's sinks and a
/// standalone `tether run --alerts` write the same JSON, syslog carries its fixed fields.
/// A classifier finding becomes one (`init(_:outcome:enforced:)`); the daemon raises its
/// own too (lost events, a rejected policy, a sink that dropped alerts).
public struct AlertRecord: Codable, Sendable, Equatable {
    enum CodingKeys: String, CodingKey {
        case rule, severity, mitre, message, session, agent, pid, exe, path, address, action, enforced, outcome, time
        case details, ancestry, events
    }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        rule = try c.decode(String.self, forKey: .rule)
        severity = try c.decode(AlertSeverity.self, forKey: .severity)
        mitre = try c.decodeIfPresent(String.self, forKey: .mitre) ?? ""
        message = try c.decode(String.self, forKey: .message)
        session = try c.decodeIfPresent(String.self, forKey: .session) ?? ""
        pid = try c.decodeIfPresent(Int32.self, forKey: .pid)
        exe = try c.decodeIfPresent(String.self, forKey: .exe)
        path = try c.decodeIfPresent(String.self, forKey: .path)
        address = try c.decodeIfPresent(String.self, forKey: .address)
        action = try c.decodeIfPresent(String.self, forKey: .action) ?? "alert"
        enforced = try c.decodeIfPresent(Bool.self, forKey: .enforced) ?? false
        time = try c.decode(Date.self, forKey: .time)
        details = try c.decodeIfPresent([String: String].self, forKey: .details) ?? [:]
        agent = try c.decodeIfPresent(String.self, forKey: .agent)
        outcome = try c.decodeIfPresent(String.self, forKey: .outcome)
        ancestry = try c.decodeIfPresent([AlertProcess].self, forKey: .ancestry) ?? []
        events = try c.decodeIfPresent([JSONValue].self, forKey: .events) ?? []
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rule, forKey: .rule)
        try c.encode(severity, forKey: .severity)
        if !mitre.isEmpty { try c.encode(mitre, forKey: .mitre) }
        try c.encode(message, forKey: .message)
        if !session.isEmpty { try c.encode(session, forKey: .session) }
        try c.encodeIfPresent(agent, forKey: .agent)
        try c.encodeIfPresent(pid, forKey: .pid)
        try c.encodeIfPresent(exe, forKey: .exe)
        try c.encodeIfPresent(path, forKey: .path)
        try c.encodeIfPresent(address, forKey: .address)
        try c.encode(action, forKey: .action)
        try c.encode(enforced, forKey: .enforced)
        try c.encodeIfPresent(outcome, forKey: .outcome)
        try c.encode(time, forKey: .time)
        if !details.isEmpty { try c.encode(details, forKey: .details) }
        if !ancestry.isEmpty { try c.encode(ancestry, forKey: .ancestry) }
        if !events.isEmpty { try c.encode(events, forKey: .events) }
    }

    /// Rule id, e.g. `persist.cron`; the daemon's own alerts start with `tether.`.
    public var rule: String
    public var severity: AlertSeverity
    /// MITRE ATT&CK technique id, e.g. `T1053.003` (empty if none).
    public var mitre: String
    public var message: String
    /// Session id (16 hex digits), empty for alerts about the daemon itself.
    public var session: String
    public var pid: Int32?
    public var exe: String?
    /// The file the finding is about, if any.
    public var path: String?
    /// The network destination (`ip:port`, `[ip6]:port`, or a unix path), if any.
    public var address: String?
    /// What the finding does: `alert`, `stop`, `kill`, `deny`.
    public var action: String
    /// Whether the action was carried out.
    public var enforced: Bool
    /// Wall-clock time of the observation.
    public var time: Date
    /// Further fields of a rule or of the daemon's own alerts (e.g. `dropped`), sent as
    /// structured-data params after the fixed ones, in key order.
    public var details: [String: String]
    /// The agent the session runs under: the kernel's decision (findings).
    public var agent: String?
    /// What was done about it, in words (findings): what the kernel did, what the responder did.
    public var outcome: String?
    /// The process and its ancestors, nearest first (findings).
    public var ancestry: [AlertProcess] = []
    /// The evidence, the triggering event last, each as its event JSON object (findings).
    public var events: [JSONValue] = []

    public init(rule: String, severity: AlertSeverity, mitre: String = "", message: String, session: String = "",
                pid: Int32? = nil, exe: String? = nil, path: String? = nil, address: String? = nil,
                action: String = "alert", enforced: Bool = false, time: Date = Date(), details: [String: String] = [:]) {
        self.details = details
        self.rule = rule
        self.severity = severity
        self.mitre = mitre
        self.message = message
        self.session = session
        self.pid = pid
        self.exe = exe
        self.path = path
        self.address = address
        self.action = action
        self.enforced = enforced
        self.time = time
    }

    /// Wall-clock time of a kernel timestamp (CLOCK_BOOTTIME ns, as events carry).
    public static func wallClock(bootNanos: UInt64) -> Date {
        var boot = timespec(), real = timespec()
        clock_gettime(CLOCK_BOOTTIME, &boot)
        clock_gettime(CLOCK_REALTIME, &real)
        let bootNow = Double(boot.tv_sec) + Double(boot.tv_nsec) / 1e9
        let realNow = Double(real.tv_sec) + Double(real.tv_nsec) / 1e9
        return Date(timeIntervalSince1970: realNow - (bootNow - Double(bootNanos) / 1e9))
    }

    /// The structured fields in a fixed order (absent ones left out): syslog SD params,
    /// RFC 3164 key=value text.
    public var fields: [(String, String)] {
        var f: [(String, String)] = [("rule", rule), ("severity", severity.rawValue)]
        if !mitre.isEmpty { f.append(("mitre", mitre)) }
        if !session.isEmpty { f.append(("session", session)) }
        if let pid { f.append(("pid", String(pid))) }
        if let exe { f.append(("exe", exe)) }
        if let path { f.append(("path", path)) }
        if let address { f.append(("address", address)) }
        if let agent { f.append(("agent", agent)) }
        f.append(("action", action))
        f.append(("enforced", enforced ? "true" : "false"))
        if let outcome { f.append(("outcome", outcome)) }
        for k in details.keys.sorted() { f.append((k, details[k]!)) }
        return f
    }
}

/// One process of an alert's ancestry.
public struct AlertProcess: Codable, Sendable, Equatable {
    public var pid: Int32
    public var ppid: Int32
    public var exe: String
    public var argv: [String]
    public var cwd: String?
    public var exited: Bool?
    public init(_ p: ProcessRecord) {
        pid = p.pid
        ppid = p.ppid
        exe = p.exe
        argv = p.argv
        cwd = p.cwd.isEmpty ? nil : p.cwd
        exited = p.exited ? true : nil
    }
}

extension AlertRecord {
    /// A classifier finding as every sink carries it. `outcome`: what the kernel and the
    /// responder did; `enforced`: whether the action took effect (the caller knows).
    public init(_ f: Finding, outcome: String, enforced: Bool) {
        let e = f.events.last
        var address: String?
        if let a = e?.addr {
            address = e?.family == .inet6 ? "[\(a)]:\(e?.port ?? 0)" : e?.family == .unix ? a : "\(a):\(e?.port ?? 0)"
        }
        self.init(rule: f.rule, severity: AlertSeverity(rawValue: f.severity.rawValue) ?? .high, mitre: f.mitre,
                  message: f.message, session: f.session.description, pid: f.pid,
                  exe: f.ancestry.first?.exe ?? e?.exe, path: f.path ?? e?.newPath ?? e?.path, address: address,
                  action: f.action.rawValue, enforced: enforced, time: AlertRecord.wallClock(bootNanos: f.time))
        agent = f.agent
        self.outcome = outcome
        ancestry = f.ancestry.map(AlertProcess.init)
        events = f.events.map { JSONValue.parse(EventJSON.encode($0)) ?? .string(EventJSON.encode($0)) }
    }

    /// "HIGH persist.cron [T1053.003] session 0123… agent a pid 42 (crontab): message -> outcome"
    public var summary: String {
        let who = exe.map { " (\(($0 as NSString).lastPathComponent))" } ?? ""
        var s = "\(severity.rawValue.uppercased()) \(rule)\(mitre.isEmpty ? "" : " [\(mitre)]")"
        if !session.isEmpty { s += " session \(session)" }
        if let agent { s += " agent \(agent)" }
        if let pid { s += " pid \(pid)\(who)" }
        return s + ": \(message) -> \(outcome ?? action)"
    }
}

/// A JSON value, for the parts of an alert that are JSON objects of their own (events).
public indirect enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case int(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d): try c.encode(d)
        case .int(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// A JSON text as a value (nil if it is not JSON).
    public static func parse(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
}

/// One JSON object per line; `time` as RFC 3339 UTC with microseconds.
public enum AlertJSON {
    public static func encode(_ a: AlertRecord) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { d, enc in
            var c = enc.singleValueContainer()
            try c.encode(Timestamp.rfc3339(d))
        }
        return (try? e.encode(a)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    public static func decode(_ line: String) throws -> AlertRecord {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { dec in
            let s = try dec.singleValueContainer().decode(String.self)
            guard let t = Timestamp.parse(s) else {
                throw DecodingError.dataCorrupted(.init(codingPath: dec.codingPath, debugDescription: "bad time \(s)"))
            }
            return t
        }
        return try d.decode(AlertRecord.self, from: Data(line.utf8))
    }
}

/// RFC 3339 / RFC 5424 timestamps: UTC, microseconds.
public enum Timestamp {
    public static func rfc3339(_ d: Date) -> String {
        let t = d.timeIntervalSince1970
        var secs = time_t(t.rounded(.down))
        let micros = Int((t - Double(secs)) * 1_000_000)
        var tm = tm()
        gmtime_r(&secs, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                      Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), micros)
    }

    public static func parse(_ s: String) -> Date? {
        // 2025-01-02T03:04:05.123456Z
        let parts = s.split(whereSeparator: { "-T:.Z".contains($0) }).map(String.init)
        guard parts.count >= 6, let y = Int32(parts[0]), let mo = Int32(parts[1]), let d = Int32(parts[2]),
              let h = Int32(parts[3]), let mi = Int32(parts[4]), let se = Int32(parts[5]) else { return nil }
        var tm = tm()
        tm.tm_year = y - 1900; tm.tm_mon = mo - 1; tm.tm_mday = d
        tm.tm_hour = h; tm.tm_min = mi; tm.tm_sec = se
        let secs = timegm(&tm)
        var frac = 0.0
        if parts.count > 6, let f = Double("0." + parts[6]) { frac = f }
        return Date(timeIntervalSince1970: Double(secs) + frac)
    }

    /// RFC 3164's "Mmm dd hh:mm:ss" in local time.
    public static func rfc3164(_ d: Date) -> String {
        var secs = time_t(d.timeIntervalSince1970)
        var tm = tm()
        localtime_r(&secs, &tm)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return months[Int(tm.tm_mon)] + String(format: " %2d %02d:%02d:%02d", Int(tm.tm_mday), Int(tm.tm_hour),
                                               Int(tm.tm_min), Int(tm.tm_sec))
    }
}
