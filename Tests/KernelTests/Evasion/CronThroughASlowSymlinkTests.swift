import Foundation
import XCTest

/// Evasion tier, class 2 (paths spelled around the resolver). Technique: a directory
/// symlink whose target is too long to be kept in its inode (`d -> /etc/../etc/…/cron.d`,
/// 150 bytes: ext4 keeps 59 in the inode, tmpfs 127; the rest goes to a data block, which
/// a tracepoint cannot read), a cron job moved in through it, and the symlink replaced
/// with a plain directory at once, so that user space, resolving the path when the event
/// arrives, finds a workspace directory. ATT&CK T1053.003 (Scheduled Task/Job: Cron),
/// spelled per T1036 (Masquerading).
/// The kernel's search stops at the symlink (`unresolved`, itself
/// `evasion.unplaced_destination`); the name the rename made is then looked for among the guarded persistence locations by its inode's change time
/// (which the caller cannot set back): the finding names /etc/cron.d, and in enforce mode
/// the job is taken out, after the fact.
final class CronThroughASlowSymlinkTests: TetherRunTestCase {
    func testACronJobMovedInThroughASymlinkKeptInADataBlockIsFoundWhereItLanded() throws {
        let path = "/etc/cron.d/tether-evasion-slow-\(getpid())"
        try FileManager.default.createDirectory(atPath: "/etc/cron.d", withIntermediateDirectories: true)
        let target = String(repeating: "/etc/..", count: 20) + "/etc/cron.d"
        XCTAssertGreaterThan(target.utf8.count, 127)
        let script = """
            echo '* * * * * root /bin/true' > job
            rm -rf d && ln -s \(target) d
            mv job d/\((path as NSString).lastPathComponent) && rm d && mkdir d
            """
        try assertCaught(script, rule: "persist.cron", path: path)
        // and the kernel's not placing it is a finding of its own
        let watched = try run(script, mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "evasion.unplaced_destination" }, "\(watched.rules)")
        XCTAssertEqual(f["severity"] as? String, "medium")
        XCTAssertTrue((f["message"] as? String ?? "").contains("found afterwards at \(path)"), "\(f)")
        try? FileManager.default.removeItem(atPath: path)
    }
}
