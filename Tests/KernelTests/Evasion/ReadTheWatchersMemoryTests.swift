import Foundation
import XCTest

/// Evasion tier, class 7 (tampering without signals). Technique: read (or write) the
/// watcher's memory with process_vm_readv/writev, no ptrace attach and no signal, here
/// aimed at `tether run` itself ($PPID). ATT&CK T1055.009 (Process Injection: Proc Memory),
/// T1562.001.
final class ReadTheWatchersMemoryTests: TetherRunTestCase {
    func testProcessVmReadvOfTheWatcherIsSeenAndRefusedWhenConfined() throws {
        try assertRestricted(["vm-read", "$PPID"], syscall: "process_vm_readv")
    }
}
