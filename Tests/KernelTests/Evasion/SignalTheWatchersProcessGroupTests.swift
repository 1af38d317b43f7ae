import Foundation
import XCTest

/// Evasion tier, class 3 and 7. Technique: `kill(-PGRP, sig)`: signal the process group the
/// watcher is in, naming no pid of Tether's, so a guard that compares the target with
/// Tether's pids sees a stranger. The group is read from /proc/$PPID/stat (field 5).
/// ATT&CK T1562.001.
/// The kernel's guard asks whether any of Tether's processes is in the group named.
final class SignalTheWatchersProcessGroupTests: TetherRunTestCase {
    func testASignalToTheWatchersGroupIsTampering() throws {
        try assertTamperEndsTheCaller("kill -CONT -$(cut -d' ' -f5 /proc/$PPID/stat)", message: "a process group holding Tether")
    }
}
