import Foundation
import XCTest

/// Evasion tier, class 3 (syscalls with no handler). Technique: send datagrams with
/// sendmmsg(2), many destinations in one call, where only sendto and sendmsg were
/// reported: the cgroup hook judged each one, but nothing said where they went. Here to a
/// destination the agent's allow-list leaves out (loopback, with `allow_loopback: false`).
/// ATT&CK T1048 (Exfiltration Over Alternative Protocol).
final class SendmmsgOutsideTheAllowListTests: TetherRunTestCase {
    func testSendmmsgIsSeenAndRefused() throws {
        let enforced = try assertDatagramsFoundAndRefused({ "\(KernelHarness.testops) sendmmsg4 127.0.0.1 \($0) > out.txt" },
                                                        sent: 2) { ["127.0.0.1:\($0)"] }
        XCTAssertEqual(try String(contentsOfFile: dir + "/out.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                       "sendmmsg \(EPERM)", enforced.stderr)
    }
}
