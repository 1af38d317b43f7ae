import Foundation
import XCTest

/// Evasion tier, class 3 (syscalls with no handler). Technique: send datagrams with
/// sendmmsg(2), many destinations in one call, where only sendto and sendmsg were
/// reported: the cgroup hook judged each one, but nothing said where they went. Here to a
/// destination the agent's allow-list leaves out (loopback, with `allow_loopback: false`).
/// ATT&CK T1048 (Exfiltration Over Alternative Protocol).
final class SendmmsgOutsideTheAllowListTests: TetherRunTestCase {
    func testSendmmsgIsSeenAndRefused() throws {
        let (receiver, port, err) = loopbackSocket(Int32(SOCK_DGRAM.rawValue))
        defer { close(receiver) }
        XCTAssertEqual(err, 0)
        func received() -> Int { takeDatagrams(receiver) }
        let cmd = "\(KernelHarness.testops) sendmmsg4 127.0.0.1 \(port) > out.txt"
        let policy = "boundary:\n  network: {allow_loopback: false}"

        let watched = try run(cmd, mode: "monitor", confined: false, defaults: policy)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.network" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertTrue((f["message"] as? String ?? "").contains("127.0.0.1:\(port)"), "\(f)")
        XCTAssertEqual(received(), 2, "monitor mode refuses nothing")

        let enforced = try run(cmd, mode: "enforce", confined: false, defaults: policy)
        XCTAssertTrue(enforced.rules.contains("escape.network"), "\(enforced.rules) \(enforced.stderr)")
        XCTAssertEqual(try String(contentsOfFile: dir + "/out.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), "sendmmsg \(EPERM)")
        XCTAssertEqual(received(), 0, "a datagram got out: \(enforced.stderr)")
    }
}
