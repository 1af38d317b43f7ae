import Foundation

/// Alerts as native journald entries (the protocol of sd_journal_send: one datagram of
/// `FIELD=value` lines to /run/systemd/journal/socket), so that
/// `journalctl -u tetherd TETHER_RULE=persist.cron` finds them. Fields: MESSAGE, PRIORITY
/// (syslog severity from the alert's), SYSLOG_IDENTIFIER, MESSAGE_ID (one per rule family,
/// see `messageID`), TETHER_RULE, TETHER_SEVERITY, TETHER_SESSION, TETHER_AGENT, TETHER_PID,
/// TETHER_EXE, TETHER_PATH, TETHER_ADDRESS, TETHER_ACTION, TETHER_ENFORCED, TETHER_OUTCOME,
/// TETHER_MITRE, and each detail as TETHER_DETAIL_<KEY>. A value longer than `maxValue`
/// bytes is cut there and the entry says so in TETHER_TRUNCATED. A journald too busy to
/// take an entry within ~50 ms costs that entry, counted as dropped.
public final class JournalSink: AlertSink, @unchecked Sendable {
    public static let defaultSocket = "/run/systemd/journal/socket"
    public static let maxValue = 8192
    public let name: String
    let socketPath: String
    let severities: SeverityMap
    let identifier: String
    private let lock = NSLock()
    private var fd: Int32 = -1
    private var sent: UInt64 = 0
    private var dropped: UInt64 = 0
    private var lastError: String?

    public init(socket: String = JournalSink.defaultSocket, identifier: String = "tether", severities: SeverityMap = SeverityMap()) {
        socketPath = socket
        self.identifier = identifier
        self.severities = severities
        name = "journal \(socket)"
    }

    /// Is this process's stderr the journal (systemd sets JOURNAL_STREAM to its device and
    /// inode)? Then the service runs under systemd with its output in the journal.
    public static func stderrIsJournal(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let v = env["JOURNAL_STREAM"] else { return false }
        let parts = v.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    /// The MESSAGE_ID of a rule's family: stable 128-bit ids (README, "journald"), so a
    /// catalog or a filter can name a kind of finding without knowing every rule.
    public static func messageID(rule: String) -> String {
        switch rule.split(separator: ".").first ?? "" {
        case "persist": return "6f1c0a2b4e8d4b7a9c3e5d7f8a1b2c3d"
        case "escape": return "0b9e8d7c6a5f4e3d8c2b1a0f9e8d7c6b"
        case "evasion": return "4d3c2b1a0e9f48d7b6a5c4d3e2f1a0b9"
        case "tether": return "a7b6c5d4e3f2410a9b8c7d6e5f4a3b2c"
        default: return "c2d3e4f5a6b7480c9d0e1f2a3b4c5d6e"
        }
    }

    /// `KEY` as a journal field name: A-Z, 0-9 and _, not starting with a digit, at most 64.
    static func fieldName(_ key: String) -> String {
        var out = String(key.uppercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "_" })
        if out.first?.isNumber == true { out = "_" + out }
        return String(out.prefix(64))
    }

    /// The datagram for one alert.
    func entry(_ a: AlertRecord) -> [UInt8] {
        var fields: [(String, String)] = [
            ("MESSAGE", a.summary),
            ("PRIORITY", String(severities[a.severity].rawValue)),
            ("SYSLOG_IDENTIFIER", identifier),
            ("MESSAGE_ID", JournalSink.messageID(rule: a.rule)),
            ("TETHER_RULE", a.rule), ("TETHER_SEVERITY", a.severity.rawValue),
            ("TETHER_ACTION", a.action), ("TETHER_ENFORCED", a.enforced ? "1" : "0"),
        ]
        if !a.session.isEmpty { fields.append(("TETHER_SESSION", a.session)) }
        if !a.mitre.isEmpty { fields.append(("TETHER_MITRE", a.mitre)) }
        for (k, v) in [("TETHER_AGENT", a.agent), ("TETHER_PID", a.pid.map(String.init)), ("TETHER_EXE", a.exe), ("TETHER_PATH", a.path),
                       ("TETHER_ADDRESS", a.address), ("TETHER_OUTCOME", a.outcome)] {
            if let v { fields.append((k, v)) }
        }
        for (k, v) in a.details.sorted(by: { $0.key < $1.key }) { fields.append((JournalSink.fieldName("TETHER_DETAIL_" + k), v)) }
        var out: [UInt8] = []
        var cut: [String] = []
        for (k, value) in fields {
            var v = Array(value.utf8)
            if v.count > JournalSink.maxValue { v = Array(v[0..<JournalSink.maxValue]); cut.append(k) }
            out += Array(k.utf8)
            if v.contains(10) {
                // a value with a newline: NAME\n, its length as 64-bit little endian, the bytes, \n
                out.append(10)
                withUnsafeBytes(of: UInt64(v.count).littleEndian) { out += $0 }
                out += v
            } else {
                out.append(UInt8(ascii: "="))
                out += v
            }
            out.append(10)
        }
        if !cut.isEmpty { out += Array("TETHER_TRUNCATED=\(cut.joined(separator: " "))\n".utf8) }
        return out
    }

    public func submit(_ alert: AlertRecord) {
        let bytes = entry(alert)
        lock.lock()
        defer { lock.unlock() }
        if fd < 0 {
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { fail(errno, "socket(AF_UNIX)"); return }
        }
        guard var addr = unixAddress(socketPath) else { dropped += 1; lastError = "\(socketPath): socket path too long"; return }
        // never blocks the detection path: a journald that is behind gets a few short retries
        for attempt in 0..<5 {
            let n = bytes.withUnsafeBytes { b in
                withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, b.baseAddress, b.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
            }
            if n >= 0 { sent += 1; lastError = nil; return }
            let e = errno
            if e == EINTR || (e == EAGAIN && attempt < 4) { usleep(10_000); continue }
            fail(e, "sending to \(socketPath)")
            return
        }
    }

    private func fail(_ e: Int32, _ what: String) {
        dropped += 1
        lastError = "\(what): \(String(cString: strerror(e)))"
    }

    public func health() -> SinkHealth {
        lock.lock()
        defer { lock.unlock() }
        return SinkHealth(name: name, state: lastError == nil ? "up" : "failing", queued: 0, sent: sent, dropped: dropped, lastError: lastError)
    }

    @discardableResult
    public func close(timeout: TimeInterval) -> Int {
        lock.lock()
        defer { lock.unlock() }
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        return 0
    }
}
