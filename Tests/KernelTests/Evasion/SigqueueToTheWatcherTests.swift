import Foundation
import XCTest

/// Evasion tier, class 3 (syscalls with no handler) and 7 (tampering). Technique: signal
/// the watcher with rt_sigqueueinfo, the call behind sigqueue(3), instead of kill(2): the
/// same signal, by a syscall a guard on kill(2) never sees. Here SIGCONT (harmless, so
/// monitor mode can run it) to `tether run` ($PPID). ATT&CK T1562.001 (Impair Defenses:
/// Disable or Modify Tools).
final class SigqueueToTheWatcherTests: TetherRunTestCase {
    func testASignalByRtSigqueueinfoIsTampering() throws {
        try assertTamperEndsTheCaller("\(KernelHarness.testops) sigqueue $PPID 18", message: "by rt_sigqueueinfo")
    }
}
