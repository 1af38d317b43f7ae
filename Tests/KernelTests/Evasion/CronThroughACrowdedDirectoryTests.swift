import Foundation
import XCTest

/// Evasion tier, class 2 (paths spelled around the resolver). Technique: put the directory
/// symlink (`big/d -> /etc/cron.d`) in a directory crowded with newer entries (4,200 empty
/// files made after it), so that a search of the destination's directories that scans a
/// directory's cached children (newest first, at most 4,096) gives up; move a cron job in
/// through it, and replace the symlink with a plain directory at once, so that user space,
/// resolving the path when the event arrives, finds a workspace directory. ATT&CK
/// T1053.003 (Scheduled Task/Job: Cron), spelled per T1036 (Masquerading).
/// The kernel's search looks each name up in the dcache's hash table, as the kernel's own
/// path walk does, however crowded the directory: the record names /etc/cron.d at the
/// call (the record is not `unresolved`), and in enforce mode the caller dies at the
/// rename.
final class CronThroughACrowdedDirectoryTests: TetherRunTestCase {
    func testACronJobMovedInThroughASymlinkInACrowdedDirectoryIsFoundWhereItLanded() throws {
        let path = "/etc/cron.d/tether-evasion-crowd-\(getpid())"
        try FileManager.default.createDirectory(atPath: "/etc/cron.d", withIntermediateDirectories: true)
        let script = """
            echo '* * * * * root /bin/true' > job
            rm -rf big && mkdir big && ln -s /etc/cron.d big/d
            i=0; while [ $i -lt 4200 ]; do : > big/f$i; i=$((i+1)); done
            mv job big/d/\((path as NSString).lastPathComponent) && rm big/d && mkdir big/d
            """
        try assertCaught(script, rule: "persist.cron", path: path)
        // and the kernel knew where it landed at the call: the rename's record is not
        // `unresolved` (user space's look among the guarded locations was not needed)
        let events = dir + "/events.jsonl"
        let watched = try run(script, mode: "monitor", extra: ["--events", events], confined: false)
        XCTAssertFalse(watched.stderr.contains("the dcache's hash table: not found"), watched.stderr)
        let renames = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("\"kind\":\"rename") && $0.contains((path as NSString).lastPathComponent) }
        XCTAssertEqual(renames.count, 1, "\(renames)")
        XCTAssertFalse(renames.first?.contains("unresolved") ?? true, "the kernel's search gave up: \(renames)")
        try? FileManager.default.removeItem(atPath: path)
    }
}
