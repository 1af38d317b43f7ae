import Foundation

/// Syslog facility (RFC 5424 §6.2.1).
public enum SyslogFacility: Int, Sendable, CaseIterable {
    case kern = 0, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp
    case local0 = 16, local1, local2, local3, local4, local5, local6, local7

    public init?(name: String) {
        guard let f = SyslogFacility.allCases.first(where: { "\($0)" == name.lowercased() }) else { return nil }
        self = f
    }
}

/// Syslog severity (RFC 5424 §6.2.1).
public enum SyslogSeverity: Int, Sendable, CaseIterable {
    case emerg = 0, alert, crit, err, warning, notice, info, debug

    public init?(name: String) {
        let n = name.lowercased()
        let aliases = ["emergency": "emerg", "critical": "crit", "error": "err", "warn": "warning", "informational": "info"]
        guard let s = SyslogSeverity.allCases.first(where: { "\($0)" == (aliases[n] ?? n) }) else { return nil }
        self = s
    }
}

/// Which syslog severity each alert severity is sent with.
public struct SeverityMap: Sendable, Equatable {
    public var low = SyslogSeverity.notice
    public var medium = SyslogSeverity.warning
    public var high = SyslogSeverity.err
    public var critical = SyslogSeverity.crit
    public init() {}

    public subscript(_ s: AlertSeverity) -> SyslogSeverity {
        switch s {
        case .low: return low
        case .medium: return medium
        case .high: return high
        case .critical: return critical
        }
    }

    /// Parses "low=info,medium=warning,high=err,critical=alert" (any subset; the rest keep defaults).
    public init(parsing text: String) throws {
        self.init()
        for item in text.split(separator: ",") where !item.isEmpty {
            let kv = item.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, let a = AlertSeverity(rawValue: kv[0].lowercased()) else {
                throw ExportError("severity map item `\(item)`: expected ALERT=SYSLOG with ALERT one of low, medium, high, critical")
            }
            guard let s = SyslogSeverity(name: kv[1]) else {
                throw ExportError("severity map item `\(item)`: `\(kv[1])` is not a syslog severity (emerg, alert, crit, err, warning, notice, info, debug)")
            }
            switch a {
            case .low: low = s
            case .medium: medium = s
            case .high: high = s
            case .critical: critical = s
            }
        }
    }
}

public struct ExportError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// How alerts are written as syslog messages.
public struct SyslogFormat: Sendable {
    public enum Style: String, Sendable { case rfc5424, rfc3164 }
    public var style = Style.rfc5424
    public var facility = SyslogFacility.auth
    public var appName = "tether"
    public var severities = SeverityMap()
    /// The SD-ID of the structured data element: NAME@PEN. 32473 is the example enterprise
    /// number of RFC 5612; set your own with --syslog-sd-id.
    public var sdID = "tether@32473"
    /// Omit HOSTNAME (RFC 3164 to the local /dev/log, as glibc's syslog(3) does).
    public var omitHostname = false
    public var hostname: String = SyslogFormat.localHostname()
    public var procID: String = String(getpid())
    public init() {}

    public static func localHostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count - 1)
        let h = String(cString: buf)
        return h.isEmpty ? "-" : h
    }

    public func priority(_ a: AlertRecord) -> Int { facility.rawValue * 8 + severities[a.severity].rawValue }

    /// One syslog message (without transport framing).
    public func format(_ a: AlertRecord) -> String {
        switch style {
        case .rfc5424: return rfc5424(a)
        case .rfc3164: return rfc3164(a)
        }
    }

    func rfc5424(_ a: AlertRecord) -> String {
        var s = "<\(priority(a))>1 \(Timestamp.rfc3339(a.time)) "
        s += header(omitHostname ? "-" : hostname, max: 255) + " "
        s += header(appName, max: 48) + " " + header(procID, max: 128) + " " + header(a.rule, max: 32) + " "
        s += "[" + sdName(sdID) + a.fields.map { " \(sdName($0.0))=\"\(sdEscape($0.1))\"" }.joined() + "]"
        s += " " + a.message
        return s
    }

    func rfc3164(_ a: AlertRecord) -> String {
        var s = "<\(priority(a))>\(Timestamp.rfc3164(a.time)) "
        if !omitHostname { s += header(hostname, max: 255) + " " }
        s += String(appName.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }.prefix(32))
        s += "[\(procID)]: "
        s += a.fields.map { "\($0.0)=\(kvValue($0.1))" }.joined(separator: " ")
        s += " msg=" + kvValue(a.message)
        return s
    }

    /// Header fields: printable US-ASCII without spaces, bounded; "-" when empty.
    func header(_ v: String, max: Int) -> String {
        let clean = String(String.UnicodeScalarView(v.unicodeScalars.filter { $0.value > 32 && $0.value < 127 }).prefix(max))
        return clean.isEmpty ? "-" : clean
    }

    /// SD-NAME: printable ASCII except '=', ' ', ']', '"', at most 32 (the part before '@' for an SD-ID).
    func sdName(_ v: String) -> String {
        let ok = v.unicodeScalars.filter { $0.value > 32 && $0.value < 127 && !"= ]\"".unicodeScalars.contains($0) }
        return String(String.UnicodeScalarView(ok).prefix(64))
    }

    /// PARAM-VALUE: '"', '\' and ']' escaped with a backslash (RFC 5424 §6.3.3).
    func sdEscape(_ v: String) -> String {
        var out = ""
        for c in v {
            if c == "\"" || c == "\\" || c == "]" { out.append("\\") }
            out.append(c == "\n" ? " " : c)
        }
        return out
    }

    /// key=value text for RFC 3164: quoted when it holds spaces, quotes or nothing.
    func kvValue(_ v: String) -> String {
        let flat = v.replacingOccurrences(of: "\n", with: " ")
        if !flat.isEmpty && !flat.contains(where: { $0 == " " || $0 == "\"" || $0 == "\\" }) { return flat }
        return "\"" + flat.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
