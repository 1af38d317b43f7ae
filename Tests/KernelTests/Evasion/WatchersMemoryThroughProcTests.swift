import Foundation
import XCTest

/// Evasion tier, class 7. Technique: open the watcher's memory as a file,
/// `/proc/$PPID/mem`, read-write: a path, not a syscall a guard on ptrace or
/// process_vm_writev would see. ATT&CK T1055.009, T1562.001.
/// Matched on the proc inode's pid; the caller dies on its return from open, before a
/// byte is read or written.
final class WatchersMemoryThroughProcTests: TetherRunTestCase {
    func testOpeningTheWatchersMemIsTampering() throws {
        try assertTamperEndsTheCaller("exec 3<>/proc/$PPID/mem; exec 3<&-", message: "/proc/")
    }
}
