import Foundation
import XCTest

/// Evasion tier, class 7 (tampering without signals). Technique: write into the watcher's
/// memory with process_vm_writev (its mapped copy of the tracked set, its guard switches),
/// no ptrace attach, no signal. The write here is empty, so monitor mode harms nothing.
/// ATT&CK T1055.009 (Process Injection: Proc Memory), T1562.001.
/// Adopted sessions: the kernel ends the caller on its return; launched ones (seccomp):
/// refused with EPERM.
final class WriteTheWatchersMemoryTests: TetherRunTestCase {
    func testProcessVmWritevIntoTheWatcherIsTampering() throws {
        try assertTamperEndsTheCaller("\(KernelHarness.testops) vm-write $PPID", message: "process_vm_writev on Tether")
        try assertRestricted(["vm-write", "$PPID"], syscall: "process_vm_writev")
    }
}
