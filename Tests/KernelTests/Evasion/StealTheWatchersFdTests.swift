import Foundation
import XCTest

/// Evasion tier, class 7 (tampering without signals). Technique: take a copy of one of
/// the watcher's file descriptors with pidfd_open + pidfd_getfd (a BPF map, its ring
/// buffer, its control socket), here fd 3 of `tether run` ($PPID).
/// ATT&CK T1562.001 (Impair Defenses: Disable or Modify Tools).
final class StealTheWatchersFdTests: TetherRunTestCase {
    func testPidfdGetfdOnTheWatcherIsSeenAndRefusedWhenConfined() throws {
        try assertRestricted(["getfd", "$PPID", "3"], syscall: "pidfd_getfd")
    }
}
