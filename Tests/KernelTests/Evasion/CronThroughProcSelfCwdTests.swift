import Foundation
import XCTest

/// Evasion tier, class 2 (paths spelled around the resolver). Technique: move a cron job
/// into place through the caller's own cwd magic link, `/proc/self/cwd/NAME` with the cwd
/// in /etc/cron.d, so that the path string names neither the directory nor anything
/// Tether's own process could resolve (its /proc/self is Tether). ATT&CK T1053.003
/// (Scheduled Task/Job: Cron), spelled per T1036 (Masquerading).
/// The kernel reads such a spelling against the caller's cwd at the syscall.
final class CronThroughProcSelfCwdTests: TetherRunTestCase {
    func testACronJobMovedInThroughProcSelfCwdIsFoundWhereItLanded() throws {
        let path = "/etc/cron.d/tether-evasion-cwd-\(getpid())"
        try assertCaught("""
            echo '* * * * * root /bin/true' > job
            cd /etc/cron.d && mv "$OLDPWD/job" /proc/self/cwd/\((path as NSString).lastPathComponent)
            """, rule: "persist.cron", path: path)
    }

    func testTheThreadSelfSpellingToo() throws {
        let path = "/etc/cron.d/tether-evasion-tcwd-\(getpid())"
        try assertCaught("""
            echo '* * * * * root /bin/true' > job
            cd /etc/cron.d && mv "$OLDPWD/job" /proc/thread-self/cwd/\((path as NSString).lastPathComponent)
            """, rule: "persist.cron", path: path)
    }
}
