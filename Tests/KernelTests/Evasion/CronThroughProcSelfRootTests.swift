import Foundation
import XCTest

/// Evasion tier, class 2 (paths spelled around the resolver). Technique: name the target
/// from the caller's root magic link, `/proc/self/root/etc/cron.d/NAME`, a prefix that
/// hides the persistence directory from a matcher of path strings.
/// ATT&CK T1053.003 (Scheduled Task/Job: Cron), T1036.
final class CronThroughProcSelfRootTests: TetherRunTestCase {
    func testACronJobMovedInThroughProcSelfRootIsFoundWhereItLanded() throws {
        let path = "/etc/cron.d/tether-evasion-root-\(getpid())"
        try assertCaught("""
            echo '* * * * * root /bin/true' > job
            mv job /proc/self/root\(path)
            """, rule: "persist.cron", path: path)
    }
}
