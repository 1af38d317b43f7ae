import Foundation
import XCTest

/// Evasion tier, class 3 (syscalls with no handler). Technique: send a datagram to a
/// destination the agent's allow-list leaves out with an io_uring sendmsg request
/// (IORING_OP_SENDMSG) rather than sendmsg(2): no send syscall names where it went. Here
/// loopback, with `allow_loopback: false`. ATT&CK T1048 (Exfiltration Over Alternative
/// Protocol), T1562.006.
/// The request is read at submission (its destination from the caller's msghdr, as
/// sendmsg's is): monitor mode finds it (escape.network, marked IORING_OP_SENDMSG); the
/// egress guard's cgroup hook judges the datagram itself when it is sent, so enforce mode
/// refuses it. A receiver of the test's own counts what got out.
final class SendmsgThroughIoUringTests: TetherRunTestCase {
    func testADatagramSentThroughARingIsFoundAndRefused() throws {
        let (receiver, port, err) = loopbackSocket(Int32(SOCK_DGRAM.rawValue))
        defer { close(receiver) }
        XCTAssertEqual(err, 0)
        func received() -> Int { takeDatagrams(receiver) }
        let cmd = "\(KernelHarness.testops) uring-sendmsg4 127.0.0.1 \(port)"
        let policy = "boundary:\n  network: {allow_loopback: false}"

        let watched = try run(cmd, mode: "monitor", confined: false, defaults: policy)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.network" }, "\(watched.rules) \(watched.stderr)")
        let message = f["message"] as? String ?? ""
        XCTAssertTrue(message.contains("127.0.0.1:\(port)") && message.contains("IORING_OP_SENDMSG"), "\(f)")
        XCTAssertEqual(received(), 1, "monitor mode refuses nothing")

        let enforced = try run(cmd, mode: "enforce", confined: false, defaults: policy)
        XCTAssertTrue(enforced.rules.contains("escape.network"), "\(enforced.rules) \(enforced.stderr)")
        XCTAssertEqual(received(), 0, "a datagram got out: \(enforced.stderr)")
    }
}
