import Foundation
import TetherExport
import XCTest

/// Pure formatting: RFC 5424 and RFC 3164 text, escaping, severity mapping, destinations.
final class SyslogFormatTests: XCTestCase {
    let t = Date(timeIntervalSince1970: 1_700_000_000.123456)

    func sample() -> AlertRecord {
        AlertRecord(rule: "persist.cron", severity: .high, mitre: "T1053.003", message: "wrote a crontab entry",
                    session: "00000000deadbeef", pid: 4242, exe: "/usr/bin/crontab", path: "/var/spool/cron/crontabs/root",
                    action: "kill", enforced: true, time: t)
    }

    func format(_ style: SyslogFormat.Style = .rfc5424) -> SyslogFormat {
        var f = SyslogFormat()
        f.style = style
        f.hostname = "host1"
        f.procID = "77"
        return f
    }

    func testRFC5424HasHeaderAndStructuredDataInOrder() {
        let line = format().format(sample())
        // auth (4) * 8 + err (3) = 35
        XCTAssertEqual(line, #"<35>1 2023-11-14T22:13:20.123456Z host1 tether 77 persist.cron [tether@32473 rule="persist.cron" severity="high" mitre="T1053.003" session="00000000deadbeef" pid="4242" exe="/usr/bin/crontab" path="/var/spool/cron/crontabs/root" action="kill" enforced="true"] wrote a crontab entry"#)
    }

    func testParamValuesEscapeQuoteBackslashAndBracket() {
        var a = sample()
        a.path = #"/tmp/a"b\c]d"#
        a.address = nil
        let line = format().format(a)
        XCTAssertTrue(line.contains(#"path="/tmp/a\"b\\c\]d""#), line)
    }

    func testAbsentFieldsAreLeftOutAndDetailsFollowInKeyOrder() {
        let a = AlertRecord(rule: "tether.alerts_dropped", severity: .medium, message: "m", time: t,
                            details: ["z": "1", "dropped": "7"])
        let line = format().format(a)
        XCTAssertTrue(line.contains(#"[tether@32473 rule="tether.alerts_dropped" severity="medium" action="alert" enforced="false" dropped="7" z="1"]"#), line)
        XCTAssertFalse(line.contains("pid="))
    }

    func testHeaderFieldsAreBoundedPrintableASCII() {
        var f = format()
        f.appName = "my app with spaces and more than forty-eight characters in all of it"
        var a = sample()
        a.rule = "rule.with.a.name.longer.than.thirty.two.chars"
        let parts = f.format(a).split(separator: " ")
        XCTAssertEqual(parts[3].count, 48)
        XCTAssertEqual(parts[5], "rule.with.a.name.longer.than.thi")
    }

    func testRFC3164CarriesFieldsAsKeyValueText() {
        var f = format(.rfc3164)
        f.omitHostname = true
        let line = f.format(sample())
        XCTAssertTrue(line.hasPrefix("<35>Nov 1"), line)
        XCTAssertTrue(line.contains(" tether[77]: rule=persist.cron severity=high mitre=T1053.003 session=00000000deadbeef pid=4242 exe=/usr/bin/crontab path=/var/spool/cron/crontabs/root action=kill enforced=true msg=\"wrote a crontab entry\""), line)
        XCTAssertFalse(line.contains("host1"))
    }

    func testSeverityMapDefaultsAndParsing() throws {
        let d = SeverityMap()
        XCTAssertEqual([d[.low], d[.medium], d[.high], d[.critical]], [.notice, .warning, .err, .crit])
        let m = try SeverityMap(parsing: "low=info, critical=emerg")
        XCTAssertEqual([m[.low], m[.medium], m[.high], m[.critical]], [.info, .warning, .err, .emerg])
        XCTAssertThrowsError(try SeverityMap(parsing: "huge=err")) { XCTAssertTrue("\($0)".contains("huge=err")) }
        XCTAssertThrowsError(try SeverityMap(parsing: "low=loud")) { XCTAssertTrue("\($0)".contains("loud")) }
        var f = format()
        f.facility = .local3
        f.severities = m
        XCTAssertEqual(f.priority(sample()), 19 * 8 + 3)
    }

    func testFacilityNames() {
        XCTAssertEqual(SyslogFacility(name: "local7")?.rawValue, 23)
        XCTAssertEqual(SyslogFacility(name: "AUTHPRIV")?.rawValue, 10)
        XCTAssertNil(SyslogFacility(name: "nope"))
    }

    func testDestinations() throws {
        XCTAssertEqual(try SyslogDestination(parsing: "unix:/dev/log"), .unix("/dev/log"))
        XCTAssertEqual(try SyslogDestination(parsing: "udp://10.0.0.1"), .udp(host: "10.0.0.1", port: 514))
        XCTAssertEqual(try SyslogDestination(parsing: "tcp://logs.example:1601"), .tcp(host: "logs.example", port: 1601))
        XCTAssertEqual(try SyslogDestination(parsing: "tcp://[::1]:6514"), .tcp(host: "::1", port: 6514))
        XCTAssertEqual(try SyslogDestination(parsing: "tcp://[::1]:6514").description, "tcp://[::1]:6514")
        for bad in ["dev/log", "unix:dev/log", "tcp://host:99999", "udp://:514", "http://x"] {
            XCTAssertThrowsError(try SyslogDestination(parsing: bad), bad) { XCTAssertTrue("\($0)".contains(bad), "\($0)") }
        }
    }

    func testPerDestinationFormat() throws {
        let (d, style) = try SyslogDestination.parse(withFormat: "unix:/dev/log,format=rfc3164")
        XCTAssertEqual(d, .unix("/dev/log"))
        XCTAssertEqual(style, .rfc3164)
        XCTAssertTrue(d.format(SyslogFormat(), style: style).omitHostname, "RFC 3164 to a local socket has no hostname, like syslog(3)")
        let (t, none) = try SyslogDestination.parse(withFormat: "tcp://[::1]:6514")
        XCTAssertNil(none)
        XCTAssertEqual(t.format(SyslogFormat(), style: none).style, .rfc5424)
        XCTAssertFalse(SyslogDestination.udp(host: "h", port: 1).format(SyslogFormat(), style: .rfc3164).omitHostname)
        XCTAssertThrowsError(try SyslogDestination.parse(withFormat: "unix:/dev/log,format=json")) { XCTAssertTrue("\($0)".contains("json")) }
    }

    func testJSONRoundTrip() throws {
        var a = sample()
        a.details = ["k": "v"]
        let line = AlertJSON.encode(a)
        XCTAssertTrue(line.contains(#""time":"2023-11-14T22:13:20.123456Z""#), line)
        let back = try AlertJSON.decode(line)
        XCTAssertEqual(back.rule, a.rule)
        XCTAssertEqual(back.pid, 4242)
        XCTAssertEqual(back.details, ["k": "v"])
        XCTAssertEqual(back.time.timeIntervalSince1970, a.time.timeIntervalSince1970, accuracy: 1e-5)
    }

    func testBootTimeToWallClock() {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        let now = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        XCTAssertEqual(AlertRecord.wallClock(bootNanos: now).timeIntervalSinceNow, 0, accuracy: 0.05)
    }

    func testPrometheusText() {
        var m = MetricsSnapshot()
        m.events = 10
        m.findingsByRule = ["persist.cron": 2, "a\"b": 1]
        m.sinks = [SinkHealth(name: "syslog tcp://127.0.0.1:1", state: "down", queued: 3, sent: 4, dropped: 5, lastError: nil)]
        let t = m.text()
        XCTAssertTrue(t.contains("tether_events_total 10\n"))
        XCTAssertTrue(t.contains("tether_findings_total{rule=\"persist.cron\"} 2\n"))
        XCTAssertTrue(t.contains("tether_findings_total{rule=\"a\\\"b\"} 1\n"))
        XCTAssertTrue(t.contains("tether_sink_dropped_total{sink=\"syslog tcp://127.0.0.1:1\"} 5\n"))
        XCTAssertTrue(t.contains("tether_sink_up{sink=\"syslog tcp://127.0.0.1:1\"} 0\n"))
    }
}
