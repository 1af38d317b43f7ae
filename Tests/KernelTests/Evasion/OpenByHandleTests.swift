import Foundation
import XCTest

/// Evasion tier, class 2/3. Technique: open a file by its handle (name_to_handle_at, then
/// open_by_handle_at), around every path check: the open names no path at all. Here
/// /etc/shadow. ATT&CK T1006 (Direct Volume Access), T1003.008.
/// The file is read from the fd the kernel returned: the read is judged as any open of
/// /etc/shadow; in a session Tether launches, seccomp refuses the call.
final class OpenByHandleTests: TetherRunTestCase {
    func testOpenByHandleIsSeenAndRefusedWhenConfined() throws {
        try assertRestricted(["by-handle", "/etc/shadow"], syscall: "open_by_handle_at")
    }

    func testWhatItOpenedIsJudgedByItsPath() throws {
        let watched = try run("\(KernelHarness.testops) by-handle /etc/shadow", mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.credentials" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["path"] as? String, "/etc/shadow", "\(f)")
    }
}
