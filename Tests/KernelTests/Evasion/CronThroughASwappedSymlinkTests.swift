import Foundation
import XCTest

/// Evasion tier, class 2 (paths spelled around the resolver). Technique: move a cron job
/// into place through a directory symlink of the agent's own (`d -> /etc/cron.d`), then point
/// the symlink somewhere harmless at once, so that whoever resolves `d/NAME` after the call
/// finds a file that is not there, somewhere that does not matter. ATT&CK T1053.003
/// (Scheduled Task/Job: Cron), spelled per T1036 (Masquerading).
/// The kernel follows the symlink at the call's exit (its target is in the inode), before
/// the caller can swap it: the record names /etc/cron.d, and in enforce mode the caller
/// dies at the rename, before the swap.
final class CronThroughASwappedSymlinkTests: TetherRunTestCase {
    func testACronJobMovedInThroughASymlinkSwappedRightAfterIsFoundWhereItLanded() throws {
        let path = "/etc/cron.d/tether-evasion-swap-\(getpid())"
        try FileManager.default.createDirectory(atPath: "/etc/cron.d", withIntermediateDirectories: true)
        try assertCaught("""
            echo '* * * * * root /bin/true' > job
            mkdir -p harmless && ln -sfn /etc/cron.d d
            mv job d/\((path as NSString).lastPathComponent) && ln -sfn harmless d
            """, rule: "persist.cron", path: path)
    }
}
