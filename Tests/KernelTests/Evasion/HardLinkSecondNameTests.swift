import Foundation
import XCTest

/// Evasion tier, class 2 (paths spelled around the resolver). Technique: give a protected
/// file a second name with a hard link, here /etc/shadow linked into the workspace, even
/// through a symlinked directory, then read it there: every open reports the workspace
/// name. ATT&CK T1003.008 (OS Credential Dumping: /etc/passwd and /etc/shadow), T1036.
/// The link is the tell: judged on its existing name, resolved on the host; in a session
/// Tether launches, Landlock refuses the link (REFER) before it is made.
final class HardLinkSecondNameTests: TetherRunTestCase {
    func testPasswordHashesLinkedIntoTheWorkspaceAreFound() throws {
        let script = "rm -rf to-etc notes.txt; ln -s /etc to-etc; ln to-etc/shadow notes.txt && cat notes.txt > /dev/null"
        let watched = try run(script, mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.hard_link" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["path"] as? String, "/etc/shadow", "the finding names the real file: \(f)")
        XCTAssertEqual(f["severity"] as? String, "high")

        // enforce, as Tether launches sessions (Landlock): a link from outside the
        // workspace into it needs the REFER right, which the kernel refuses (EXDEV)
        let enforced = try run(script, mode: "enforce")
        let g = try XCTUnwrap(enforced.findings.first { $0["rule"] as? String == "escape.hard_link" }, "\(enforced.rules) \(enforced.stderr)")
        XCTAssertTrue((g["message"] as? String ?? "").contains("EXDEV"), "\(g)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/notes.txt"), "the second name was made: \(enforced.stderr)")
    }
}
