import Foundation
import XCTest

/// Evasion tier, class 2 (paths spelled around the resolver). Technique: put the directory
/// symlink (`big/d -> /etc/cron.d`) in a directory crowded with newer entries (4,200 empty
/// files made after it), so that the kernel's search of the destination's directories,
/// which scans at most 4,096 cached children per directory, gives up; move a cron job in
/// through it, and replace the symlink with a plain directory at once, so that user space,
/// resolving the path when the event arrives, finds a workspace directory. ATT&CK
/// T1053.003 (Scheduled Task/Job: Cron), spelled per T1036 (Masquerading).
/// The event is `unresolved`; the name it made is then looked for among the guarded
/// persistence locations by its inode's change time (which the caller cannot set back):
/// the finding names /etc/cron.d, and in enforce mode the job is taken out.
final class CronThroughACrowdedDirectoryTests: TetherRunTestCase {
    func testACronJobMovedInThroughASymlinkInACrowdedDirectoryIsFoundWhereItLanded() throws {
        let path = "/etc/cron.d/tether-evasion-crowd-\(getpid())"
        try FileManager.default.createDirectory(atPath: "/etc/cron.d", withIntermediateDirectories: true)
        try assertCaught("""
            echo '* * * * * root /bin/true' > job
            rm -rf big && mkdir big && ln -s /etc/cron.d big/d
            i=0; while [ $i -lt 4200 ]; do : > big/f$i; i=$((i+1)); done
            mv job big/d/\((path as NSString).lastPathComponent) && rm big/d && mkdir big/d
            """, rule: "persist.cron", path: path)
    }
}
