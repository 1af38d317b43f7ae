import Foundation
import TetherCore
import TetherExport
import XCTest

/// One alert record for every front end: a finding becomes the same JSON whether tetherd's
/// sinks or a standalone `tether run --alerts` write it, and reads back whole.
final class AlertRecordTests: XCTestCase {
    func finding() -> Finding {
        var e = Event(kind: .open, time: 5_000_000_000, pid: 200, ppid: 100, uid: 1000, session: SessionID(0xa11ce), result: 3, comm: "bash")
        e.path = "/home/dev/.ssh/authorized_keys"
        e.flags = OpenFlags.writeOnly | OpenFlags.append
        e.agent = "builder"
        e.enforcement = .enforce
        let p = ProcessRecord(pid: 200, ppid: 100, session: SessionID(0xa11ce), exe: "/bin/bash",
                              argv: ["bash", "-c", "echo key >> ~/.ssh/authorized_keys"], cwd: "/home/dev/proj", comm: "bash")
        return Finding(rule: "persist.ssh", severity: .critical, mitre: "T1098.004", message: "wrote an SSH authorized key",
                       session: SessionID(0xa11ce), pid: 200, ancestry: [p], events: [e], action: .kill, enforced: true,
                       time: e.time, agent: "builder")
    }

    func testAFindingBecomesOneRecordWithItsEvidence() throws {
        let a = AlertRecord(finding(), outcome: "session killed (1 process(es))", enforced: true)
        let line = AlertJSON.encode(a)
        XCTAssertFalse(line.contains("\n"))
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(obj["rule"] as? String, "persist.ssh")
        XCTAssertEqual(obj["severity"] as? String, "critical")
        XCTAssertEqual(obj["agent"] as? String, "builder")
        XCTAssertEqual(obj["action"] as? String, "kill")
        XCTAssertEqual(obj["enforced"] as? Bool, true)
        XCTAssertEqual(obj["outcome"] as? String, "session killed (1 process(es))")
        XCTAssertEqual(obj["path"] as? String, "/home/dev/.ssh/authorized_keys")
        let anc = try XCTUnwrap(obj["ancestry"] as? [[String: Any]])
        XCTAssertEqual(anc.first?["argv"] as? [String], ["bash", "-c", "echo key >> ~/.ssh/authorized_keys"])
        let events = try XCTUnwrap(obj["events"] as? [[String: Any]])
        XCTAssertEqual(events.first?["kind"] as? String, "open")
        XCTAssertEqual(events.first?["agent"] as? String, "builder")
        XCTAssertEqual(events.first?["enforcement"] as? String, "enforce")
        // and it reads back as the same record (the control socket carries it so); the time
        // to the microsecond it is written with
        var back = try AlertJSON.decode(line)
        XCTAssertEqual(back.time.timeIntervalSince1970, a.time.timeIntervalSince1970, accuracy: 1e-5)
        back.time = a.time
        XCTAssertEqual(back, a)
        XCTAssertTrue(a.summary.hasPrefix("CRITICAL persist.ssh [T1098.004] session 00000000000a11ce agent builder pid 200 (bash): "), a.summary)
        XCTAssertTrue(a.summary.hasSuffix(" -> session killed (1 process(es))"), a.summary)
    }
}
