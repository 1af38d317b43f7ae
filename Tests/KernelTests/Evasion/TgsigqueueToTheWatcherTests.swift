import Foundation
import XCTest

/// Evasion tier, class 3 and 7. Technique: signal one thread of the watcher with
/// rt_tgsigqueueinfo (thread-directed, with a payload): neither kill(2) nor tgkill(2).
/// SIGCONT to `tether run`'s main thread. ATT&CK T1562.001.
final class TgsigqueueToTheWatcherTests: TetherRunTestCase {
    func testASignalByRtTgsigqueueinfoIsTampering() throws {
        try assertTamperEndsTheCaller("\(KernelHarness.testops) tgsigqueue $PPID 18", message: "by rt_tgsigqueueinfo")
    }
}
