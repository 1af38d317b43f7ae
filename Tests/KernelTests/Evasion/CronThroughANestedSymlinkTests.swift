import Foundation
import XCTest

/// Evasion tier, class 2 (paths spelled around the resolver). Technique: move a cron job
/// into place through a directory symlink whose target goes through another symlink of the
/// agent's own (`d -> x/cron.d`, `x -> /etc`), then point the inner one somewhere harmless
/// at once, so that whoever resolves `d/NAME` after the call finds a file that is not
/// there. ATT&CK T1053.003 (Scheduled Task/Job: Cron), spelled per T1036 (Masquerading).
/// The kernel follows the symlinks at the call's exit, the one within the other's target
/// too (up to four in all), before the caller can swap them: the record names
/// /etc/cron.d, and in enforce mode the caller dies at the rename, before the swap.
final class CronThroughANestedSymlinkTests: TetherRunTestCase {
    func testACronJobMovedInThroughASymlinkWithinASymlinkIsFoundWhereItLanded() throws {
        let path = "/etc/cron.d/tether-evasion-nested-\(getpid())"
        try FileManager.default.createDirectory(atPath: "/etc/cron.d", withIntermediateDirectories: true)
        try assertCaught("""
            echo '* * * * * root /bin/true' > job
            mkdir -p harmless/cron.d && ln -sfn /etc x && ln -sfn x/cron.d d
            mv job d/\((path as NSString).lastPathComponent) && ln -sfn harmless x
            """, rule: "persist.cron", path: path)
    }

    /// Variant: three symlinks deep (`d -> a/cron.d`, `a -> b`, `b -> /etc`); the innermost
    /// is swapped. (Targets stay short: a long one, kept in a data block, is not read in the
    /// kernel; the README says so.)
    func testThreeSymlinksDeepIsFollowedToo() throws {
        let path = "/etc/cron.d/tether-evasion-nested3-\(getpid())"
        try FileManager.default.createDirectory(atPath: "/etc/cron.d", withIntermediateDirectories: true)
        try assertCaught("""
            echo '* * * * * root /bin/true' > job
            mkdir -p harmless/cron.d && ln -sfn /etc b && ln -sfn b a && ln -sfn a/cron.d d
            mv job d/\((path as NSString).lastPathComponent) && ln -sfn harmless b
            """, rule: "persist.cron", path: path)
    }
}
