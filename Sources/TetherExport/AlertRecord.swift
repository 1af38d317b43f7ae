import Foundation

/// How bad a finding is. Mirrors TetherCore's `Severity` (low/medium/high/critical).
public enum AlertSeverity: String, Codable, Sendable, CaseIterable {
    case low, medium, high, critical
}

/// One alert as the sinks see it: the fields syslog's structured data and the JSON lines
/// carry. The daemon maps each classifier finding onto one of these (one small adapter),
/// and raises its own (lost events, a rejected policy, a sink that dropped alerts).
public struct AlertRecord: Codable, Sendable, Equatable {
    enum CodingKeys: String, CodingKey {
        case rule, severity, mitre, message, session, pid, exe, path, address, action, enforced, time, details
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
        f.append(("action", action))
        f.append(("enforced", enforced ? "true" : "false"))
        for k in details.keys.sorted() { f.append((k, details[k]!)) }
        return f
    }
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
