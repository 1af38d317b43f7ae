import Foundation
import XCTest

/// Evasion tier, class 3 (syscalls with no handler). Technique: plant a cron job without
/// the open or rename syscalls Tether watches: the file is opened (created) by an io_uring
/// request, IORING_OP_OPENAT, or moved into place by IORING_OP_RENAMEAT, from a ring the
/// member made. ATT&CK T1053.003 (Scheduled Task/Job: Cron), T1562.006 (Impair Defenses:
/// Indicator Blocking).
/// Requests that make or move a name are read at submission from the kernel's own copy of
/// their paths: the record is the syscall's would be, marked as an io_uring request whose
/// outcome is not seen. Monitor: persist.cron names where the job landed. Enforce (adopted
/// sessions: no guard acts at submission): the session is ended and the job undone.
final class CronThroughIoUringTests: TetherRunTestCase {
    func testACronJobOpenedThroughIoUringIsFoundWhereItLanded() throws {
        let path = "/etc/cron.d/tether-evasion-uring-open-\(getpid())"
        try assertCaught("\(KernelHarness.testops) uring-write \(path) '* * * * * root /bin/true'", rule: "persist.cron", path: path)
    }

    func testACronJobRenamedThroughIoUringIsFoundWhereItLanded() throws {
        let path = "/etc/cron.d/tether-evasion-uring-rename-\(getpid())"
        try assertCaught("""
            echo '* * * * * root /bin/true' > job
            \(KernelHarness.testops) uring-rename job \(path)
            """, rule: "persist.cron", path: path)
    }
}
