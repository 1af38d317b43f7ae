import Foundation
import XCTest

/// Evasion tier, class 3 and 7. Technique: no signal syscall at all. Make the watcher the
/// owner of a pipe's I/O signals (`fcntl(F_SETOWN, $PPID)`, `F_SETSIG` to pick the signal,
/// `O_ASYNC`), then write to the pipe: the kernel itself sends the signal, as SIGIO, to
/// whoever owns the file. SIGCONT here. ATT&CK T1562.001.
/// The owner is judged at F_SETOWN: Tether as the owner ends the caller before the write.
final class IoSignalRoutedToTheWatcherTests: TetherRunTestCase {
    func testFSetownToTheWatcherIsTampering() throws {
        try assertTamperEndsTheCaller("\(KernelHarness.testops) setown $PPID 18", message: "routed to Tether")
    }
}
