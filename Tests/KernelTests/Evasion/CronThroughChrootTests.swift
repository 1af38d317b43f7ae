import Foundation
import XCTest

/// Evasion tier, class 2 (paths spelled around the resolver). Technique: chroot into
/// `/etc` first, then move a job into `/cron.d/NAME`: the kernel resolves the string from
/// the caller's root, so it lands in `/etc/cron.d`, while the string names no persistence
/// location. ATT&CK T1053.003 (Scheduled Task/Job: Cron), T1036 (Masquerading).
/// A path-only call's absolute string, from a caller whose root is not its namespace's, is
/// read against that root as the kernel read it (the root's path is in the record): the
/// finding names where the job landed, and enforce mode takes it out of there.
final class CronThroughChrootTests: TetherRunTestCase {
    func testACronJobMovedInFromInsideAChrootIsFoundWhereItLanded() throws {
        let name = "tether-evasion-chroot-\(getpid())"
        let staged = "/etc/\(name).tmp"
        cleanup.append(staged)
        try assertCaught("""
            echo '* * * * * root /bin/true' > \(staged)
            \(KernelHarness.testops) chroot /etc rename /\(name).tmp /cron.d/\(name)
            """, rule: "persist.cron", path: "/etc/cron.d/\(name)")
    }
}
