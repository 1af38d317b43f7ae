import Foundation
import TetherCore
@testable import TetherExport
import XCTest

/// Tether's alerts in Falco's JSON pass falcosidekick's own acceptance check of an incoming
/// event (its `types.FalcoPayload.Check` after its JSON decoding, ported here line for
/// line: a priority it knows, a rule, a non-zero RFC 3339 time, output fields), and carry
/// Falco's own spellings and field names.
final class FalcoFormatTests: XCTestCase {
    /// falcosidekick's PriorityType.UnmarshalJSON: these, case-insensitively; else Default ("").
    static let sidekickPriorities: Set<String> = ["emergency", "alert", "critical", "error", "warning", "notice", "informational", "info", "debug"]

    /// falcosidekick's decoding (Go's time.Time: RFC 3339, fractional seconds optional) and Check().
    func sidekickAccepts(_ line: String) -> String? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return "not a JSON object" }
        guard let p = o["priority"] as? String, FalcoFormatTests.sidekickPriorities.contains(p.lowercased()) else { return "priority \(o["priority"] ?? "none")" }
        guard let rule = o["rule"] as? String, !rule.isEmpty else { return "no rule" }
        guard let t = o["time"] as? String,
              t.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"#, options: .regularExpression) != nil,
              let d = Timestamp.parse(t), d.timeIntervalSince1970 > 0 else { return "time \(o["time"] ?? "none")" }
        guard let f = o["output_fields"] as? [String: Any], !f.isEmpty else { return "no output_fields" }
        for k in ["output", "source", "hostname"] where o[k] as? String == nil { return "no \(k)" }
        return nil
    }

    func finding(_ severity: AlertSeverity) -> AlertRecord {
        var a = AlertRecord(rule: "escape.credentials", severity: severity, mitre: "T1552", message: "credential read: password hashes: /etc/shadow",
                            session: "00000000000a11ce", pid: 4242, exe: "/usr/bin/cat", path: "/etc/shadow", action: "stop",
                            enforced: true, time: Date(timeIntervalSince1970: 1_764_644_645.123456))
        a.agent = "claude"
        a.outcome = "session stopped"
        a.events = [.object(["kind": .string("open"), "uid": .int(1000), "pid": .int(4242)])]
        var me = AlertProcess(ProcessRecord(pid: 4242, ppid: 4200, session: SessionID(0xa11ce), exe: "/usr/bin/cat", argv: ["cat", "/etc/shadow"], cwd: "/w"))
        me.cwd = "/w"
        a.ancestry = [me, AlertProcess(ProcessRecord(pid: 4200, ppid: 1, session: SessionID(0xa11ce), exe: "/bin/bash", argv: ["bash", "-c", "cat /etc/shadow"]))]
        return a
    }

    func testEveryAlertPassesFalcosidekicksCheck() throws {
        var alerts = AlertSeverity.allCases.map(finding)
        alerts.append(AlertRecord(rule: "tether.events_lost", severity: .high, message: "12 kernel events lost", action: "alert", details: ["lost": "12"]))
        for a in alerts {
            let line = FalcoJSON.encode(a)
            XCTAssertNil(sidekickAccepts(line), "\(a.severity) \(a.rule): \(line)")
        }
    }

    func testFalcosOwnSpellingsAndFields() throws {
        XCTAssertEqual(AlertSeverity.allCases.map(FalcoJSON.priority), ["Notice", "Warning", "Error", "Critical"])
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(FalcoJSON.encode(finding(.high)).utf8)) as? [String: Any])
        XCTAssertEqual(o["priority"] as? String, "Error")
        XCTAssertEqual(o["source"] as? String, "syscall")
        XCTAssertEqual(o["time"] as? String, "2025-12-02T03:04:05.123456000Z", "nanoseconds, as Falco writes them")
        XCTAssertEqual(o["tags"] as? [String], ["tether", "escape", "T1552"])
        let out = try XCTUnwrap(o["output"] as? String)
        XCTAssertTrue(out.hasPrefix("03:04:05.123456000: Error credential read: password hashes: /etc/shadow (proc.pid=4242 "), out)
        let f = try XCTUnwrap(o["output_fields"] as? [String: Any])
        XCTAssertEqual(f["proc.pid"] as? Int, 4242)
        XCTAssertEqual(f["proc.exepath"] as? String, "/usr/bin/cat")
        XCTAssertEqual(f["proc.name"] as? String, "cat")
        XCTAssertEqual(f["proc.cmdline"] as? String, "cat /etc/shadow")
        XCTAssertEqual(f["proc.pcmdline"] as? String, "bash -c cat /etc/shadow")
        XCTAssertEqual(f["proc.ppid"] as? Int, 4200)
        XCTAssertEqual(f["user.uid"] as? Int, 1000)
        XCTAssertEqual(f["fd.name"] as? String, "/etc/shadow")
        XCTAssertEqual(f["evt.type"] as? String, "open")
        XCTAssertEqual(f["evt.time"] as? Int64, 1_764_644_645_123_456_000)
        XCTAssertEqual(f["tether.session"] as? String, "00000000000a11ce")
        XCTAssertEqual(f["tether.agent"] as? String, "claude")
        XCTAssertEqual(f["tether.enforced"] as? Bool, true)
        XCTAssertEqual(f["tether.outcome"] as? String, "session stopped")
    }

    func testTheDestinationsFormatIsParsedOrRefusedByName() throws {
        XCTAssertTrue(try AlertFormat.parse(destination: "/var/log/a.jsonl") == ("/var/log/a.jsonl", .tether))
        XCTAssertTrue(try AlertFormat.parse(destination: "/var/log/a,b.jsonl,format=falco") == ("/var/log/a,b.jsonl", .falco))
        XCTAssertThrowsError(try AlertFormat.parse(destination: "/x,format=splunk")) { XCTAssertTrue("\($0)".contains("unknown format splunk"), "\($0)") }
        XCTAssertThrowsError(try AlertFormat.parse(destination: ",format=falco")) { XCTAssertTrue("\($0)".contains("no file"), "\($0)") }
    }
}
