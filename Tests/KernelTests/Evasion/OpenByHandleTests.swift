import Foundation
import XCTest

/// Evasion tier, class 2/3. Technique: open a file by its handle (name_to_handle_at, then
/// open_by_handle_at), around every path check: the open names no path at all. Here
/// /etc/shadow. ATT&CK T1006 (Direct Volume Access), T1003.008.
final class OpenByHandleTests: TetherRunTestCase {
    func testOpenByHandleIsSeenAndRefusedWhenConfined() throws {
        try assertRestricted(["by-handle", "/etc/shadow"], syscall: "open_by_handle_at")
    }
}
