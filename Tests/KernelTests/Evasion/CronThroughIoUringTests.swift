import Foundation
import XCTest

/// Evasion tier, class 3 (syscalls with no handler). Technique: plant a cron job without
/// the open or rename syscalls Tether watches: the file is opened (created) by an io_uring
/// request, IORING_OP_OPENAT, or moved into place by IORING_OP_RENAMEAT, from a ring the
/// member made. ATT&CK T1053.003 (Scheduled Task/Job: Cron), T1562.006 (Impair Defenses:
/// Indicator Blocking).
/// Requests that make or move a name are read at submission from the kernel's own copy of
/// their paths: the record is the syscall's would be, marked as an io_uring request whose
/// outcome is not seen. Monitor: persist.cron names where the job landed. Enforce: the write
/// guard judges the request's destination at submission, as it does a syscall's; the
/// request still runs (inline, in the same io_uring_enter), but the caller dies on its
/// return, its session freezes, and what landed is undone. A path through a symlink that
/// names nothing protected at submission is judged again by the file the request opened.
final class CronThroughIoUringTests: TetherRunTestCase {
    func testACronJobOpenedThroughIoUringIsFoundWhereItLanded() throws {
        let path = "/etc/cron.d/tether-evasion-uring-open-\(getpid())"
        let script = "\(KernelHarness.testops) uring-write \(path) '* * * * * root /bin/true' > out.txt"
        try assertCaught(script, rule: "persist.cron", path: path)
        // the write guard judged the request at submission: the caller died on its return
        // from io_uring_enter, before it wrote a byte (or said it had)
        let enforced = try run(script, mode: "enforce", confined: false)
        let f = try XCTUnwrap(enforced.findings.first { $0["rule"] as? String == "persist.cron" }, "\(enforced.rules) \(enforced.stderr)")
        XCTAssertTrue((f["outcome"] as? String ?? "").contains("the kernel already killed the offender"), "\(f)")
        XCTAssertEqual((try? String(contentsOfFile: dir + "/out.txt", encoding: .utf8)) ?? "", "", "the caller ran on past io_uring_enter")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "undone")
    }

    /// The request's path goes through a symlink of the agent's own (`d` -> /etc/cron.d), so
    /// at submission it names no persistence location: the completion is judged by the file
    /// the request opened (its directory's inode), as an open syscall's exit is.
    func testACronJobOpenedThroughIoUringAndASymlinkIsFoundWhereItLanded() throws {
        let name = "tether-evasion-uring-symlink-\(getpid())"
        let path = "/etc/cron.d/\(name)"
        let script = "ln -sfn /etc/cron.d d && \(KernelHarness.testops) uring-write d/\(name) '* * * * * root /bin/true' > out.txt"
        try assertCaught(script, rule: "persist.cron", path: path)
    }

    func testACronJobRenamedThroughIoUringIsFoundWhereItLanded() throws {
        let path = "/etc/cron.d/tether-evasion-uring-rename-\(getpid())"
        try assertCaught("""
            echo '* * * * * root /bin/true' > job
            \(KernelHarness.testops) uring-rename job \(path)
            """, rule: "persist.cron", path: path)
    }
}
