import Foundation
import XCTest

/// Evasion tier, class 2 (paths spelled around the resolver). Technique: hold a directory
/// fd on /etc/cron.d and rename a cron job into `/proc/self/fd/N/NAME`: the string names
/// only a descriptor number. ATT&CK T1053.003 (Scheduled Task/Job: Cron), T1036.
/// The kernel reads the rest of such a path against that fd's directory at the syscall.
final class CronThroughProcSelfFdTests: TetherRunTestCase {
    func testACronJobRenamedThroughADirectoryFdIsFoundWhereItLanded() throws {
        let path = "/etc/cron.d/tether-evasion-fd-\(getpid())"
        try assertCaught("""
            echo '* * * * * root /bin/true' > job
            exec 7</etc/cron.d
            mv job /proc/self/fd/7/\((path as NSString).lastPathComponent)
            """, rule: "persist.cron", path: path)
    }
}
