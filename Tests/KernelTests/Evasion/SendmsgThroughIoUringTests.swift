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
        try assertDatagramsFoundAndRefused({ "\(KernelHarness.testops) uring-sendmsg4 127.0.0.1 \($0)" }, sent: 1) {
            ["127.0.0.1:\($0)", "IORING_OP_SENDMSG"]
        }
    }
}
