import Foundation
import XCTest

/// Evasion tier, class 3 (syscalls with no handler). Technique: set up an io_uring, whose
/// submissions (open, write, rename, connect) never pass through the syscall tracepoints.
/// ATT&CK T1562.006 (Impair Defenses: Indicator Blocking), T1106 (Native API).
/// A ring is a finding when made; in a session Tether launches confined, seccomp refuses
/// io_uring_setup (EPERM), so there is no ring to use.
final class IoUringTests: TetherRunTestCase {
    func testARingIsAFindingAndRefusedInAConfinedSession() throws {
        let watched = try run("\(KernelHarness.testops) uring", mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "evasion.io_uring" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertTrue(["medium", "high", "critical"].contains(f["severity"] as? String ?? ""), "\(f)")

        let enforced = try run("\(KernelHarness.testops) uring > uring.out", mode: "enforce")
        XCTAssertTrue(enforced.rules.contains("evasion.io_uring"), "\(enforced.rules) \(enforced.stderr)")
        let out = (try? String(contentsOfFile: dir + "/uring.out", encoding: .utf8)) ?? ""
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "uring \(EPERM)", "io_uring_setup must fail with EPERM: \(out)")
    }
}
