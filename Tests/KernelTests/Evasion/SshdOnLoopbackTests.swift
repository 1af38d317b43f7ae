import Foundation
import XCTest

/// Evasion tier, class 5 (leaving the session through a deputy). Technique: log in to this
/// very host over loopback (sshd's port 22), where loopback is allowed every port: whatever
/// key or password the agent holds, the shell sshd starts for it is not a member of the
/// session. ATT&CK T1021.004 (Remote Services: SSH), T1559.
/// The kernel cannot name a TCP listener at the connect, so the port on an address of this
/// host is the finding; where the rule acts the egress guard refuses it (EPERM) before a
/// byte is sent. A listener of the test's own stands in for sshd when none runs here
/// (a running sshd is reached instead).
final class SshdOnLoopbackTests: TetherRunTestCase {
    func testSshdsPortOnLoopbackIsFoundAndRefused() throws {
        try assertConnectFoundAndRefused(port: 22, rule: "escape.deputy", naming: "sshd's port on this host (127.0.0.1:22)")
    }
}
