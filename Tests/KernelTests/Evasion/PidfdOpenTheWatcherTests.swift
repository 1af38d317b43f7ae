import Foundation
import XCTest

/// Evasion tier, class 3 and 7. Technique: take a pidfd on the watcher (pidfd_open), the
/// handle every later step works through (pidfd_send_signal, pidfd_getfd for its BPF map
/// fds, setns into its namespaces) and that no signal guard sees being made.
/// ATT&CK T1562.001.
final class PidfdOpenTheWatcherTests: TetherRunTestCase {
    func testAPidfdOnTheWatcherIsTampering() throws {
        try assertTamperEndsTheCaller("\(KernelHarness.testops) pidfd-open $PPID", message: "pidfd_open on Tether")
    }
}
