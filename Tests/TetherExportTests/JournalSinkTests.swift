import Foundation
import TetherExport
import XCTest

/// The journal sink's datagrams as journald parses them (the native protocol: FIELD=value
/// lines; a value holding a newline as FIELD, newline, 64-bit little-endian length, bytes).
final class JournalSinkTests: XCTestCase {
    /// Parses one native-protocol datagram into its fields.
    func parse(_ b: [UInt8]) -> [String: String] {
        var out: [String: String] = [:]
        var i = 0
        while i < b.count {
            guard let nl = b[i...].firstIndex(of: 10) else { break }
            let line = b[i..<nl]
            if let eq = line.firstIndex(of: UInt8(ascii: "=")) {
                out[String(decoding: line[..<eq], as: UTF8.self)] = String(decoding: line[(eq + 1)...], as: UTF8.self)
                i = nl + 1
            } else {
                let name = String(decoding: line, as: UTF8.self)
                var n: UInt64 = 0
                for k in 0..<8 { n |= UInt64(b[nl + 1 + k]) << (8 * UInt64(k)) }
                let start = nl + 9
                out[name] = String(decoding: b[start..<(start + Int(n))], as: UTF8.self)
                i = start + Int(n) + 1
            }
        }
        return out
    }

    func testFieldsTheJournalCanBeQueriedBy() throws {
        let path = NSTemporaryDirectory() + "tether-journal-\(getpid()).sock"
        let fd = try localBindDatagram(path)
        defer { close(fd); unlink(path) }
        let sink = JournalSink(socket: path)
        let long = String(repeating: "x", count: JournalSink.maxValue + 10)
        sink.submit(AlertRecord(rule: "persist.cron", severity: .high, mitre: "T1053.003", message: "cron job planted",
                                session: "00000000c0ffee01", pid: 4242, exe: "/usr/bin/cp", path: "/etc/cron.d/job", action: "kill", enforced: true,
                                details: ["argv": "cp job\n/etc/cron.d/job", "9 odd-key": "v", "big": long]))
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        let n = recv(fd, &buf, buf.count, 0)
        XCTAssertGreaterThan(n, 0)
        let f = parse(Array(buf[0..<n]))
        XCTAssertEqual(f["TETHER_RULE"], "persist.cron")
        XCTAssertEqual(f["TETHER_SESSION"], "00000000c0ffee01")
        XCTAssertEqual(f["PRIORITY"], "3") // high -> err, as in syslog
        XCTAssertEqual(f["MESSAGE_ID"], JournalSink.messageID(rule: "persist.cron"))
        XCTAssertNotEqual(JournalSink.messageID(rule: "persist.cron"), JournalSink.messageID(rule: "escape.write"))
        XCTAssertEqual(JournalSink.messageID(rule: "persist.cron"), JournalSink.messageID(rule: "persist.systemd_unit"))
        XCTAssertEqual(f["MESSAGE_ID"]?.count, 32)
        XCTAssertEqual(f["TETHER_PID"], "4242")
        XCTAssertEqual(f["TETHER_PATH"], "/etc/cron.d/job")
        XCTAssertEqual(f["TETHER_ENFORCED"], "1")
        XCTAssertEqual(f["TETHER_DETAIL_ARGV"], "cp job\n/etc/cron.d/job", "a value with a newline goes in the binary form, whole")
        XCTAssertEqual(f["TETHER_DETAIL_9_ODD_KEY"], "v", "a detail key becomes a valid field name")
        XCTAssertEqual(f["TETHER_DETAIL_BIG"]?.count, JournalSink.maxValue)
        XCTAssertEqual(f["TETHER_TRUNCATED"], "TETHER_DETAIL_BIG")
        XCTAssertTrue(f["MESSAGE"]?.hasPrefix("HIGH persist.cron [T1053.003] session 00000000c0ffee01") == true, f["MESSAGE"] ?? "")
        XCTAssertEqual(f["SYSLOG_IDENTIFIER"], "tether")
        XCTAssertEqual(sink.health().sent, 1)
    }

    func testAMissingJournalIsCountedNotThrown() {
        let sink = JournalSink(socket: "/nonexistent/journal.sock")
        sink.submit(AlertRecord(rule: "escape.write", severity: .low, message: "m", action: "alert"))
        XCTAssertEqual(sink.health().dropped, 1)
        XCTAssertTrue(sink.health().lastError?.contains("/nonexistent/journal.sock") == true, "\(sink.health())")
    }

    func testStderrIsTheJournalOnlyWhenItsDeviceAndInodeMatch() {
        var st = stat()
        fstat(2, &st)
        XCTAssertTrue(JournalSink.stderrIsJournal(["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]))
        XCTAssertFalse(JournalSink.stderrIsJournal(["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + 1)"]))
        XCTAssertFalse(JournalSink.stderrIsJournal([:]))
        XCTAssertFalse(JournalSink.stderrIsJournal(["JOURNAL_STREAM": "junk"]))
    }
}
