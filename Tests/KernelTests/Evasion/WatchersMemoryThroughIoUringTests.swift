import Foundation
import XCTest

/// Evasion tier, class 7 (tampering without signals). Technique: open the watcher's memory,
/// `/proc/$PPID/mem`, read-write with an io_uring request: the tamper guard matches the
/// opened file's proc inode at the open syscall's exit, and a ring's open has none.
/// ATT&CK T1055.009 (Proc Memory), T1562.001.
/// The request's path is the kernel's own copy, read at submission: naming Tether's /proc
/// entry, it is escape.tamper (judged after the request ran, so in enforce mode the session
/// is killed after it, not refused).
final class WatchersMemoryThroughIoUringTests: TetherRunTestCase {
    func testOpeningTheWatchersMemThroughARingIsTampering() throws {
        let cmd = "\(KernelHarness.testops) uring-open /proc/$PPID/mem rw"
        for mode in ["monitor", "enforce"] {
            let r = try run(cmd, mode: mode, confined: false)
            let f = try XCTUnwrap(r.findings.first { $0["rule"] as? String == "escape.tamper" }, "\(mode): \(r.rules) \(r.stderr)")
            XCTAssertTrue((f["message"] as? String ?? "").contains("opened through /proc by an io_uring request"), "\(f)")
            XCTAssertEqual(f["severity"] as? String, "critical", "\(f)")
            // enforce: the session is ended after the request (if anything of it is left)
            if mode == "enforce" { XCTAssertEqual(f["action"] as? String, "kill", "\(f)") }
        }
    }
}
