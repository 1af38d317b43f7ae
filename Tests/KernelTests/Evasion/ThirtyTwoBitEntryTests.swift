import Foundation
import XCTest

/// Evasion tier, class 3 (syscalls with no handler). Technique: make syscalls through the
/// 32-bit entry (`int 0x80`) from a 64-bit process: they are numbered differently, so a
/// tracer that reads them as 64-bit calls sees nothing, or the wrong call.
/// ATT&CK T1562.001 (Impair Defenses), T1106 (Native API).
/// The kernel tells a 32-bit call by the task's TS_COMPAT mark: it is reported as one, and
/// in enforce mode the caller dies on its return (seccomp kills it first where Tether
/// launched the session confined).
final class ThirtyTwoBitEntryTests: TetherRunTestCase {
    func testA32BitSyscallIsSeenAndInEnforceModeKilled() throws {
        let watched = try run("\(KernelHarness.testops) int80; touch after-monitor", mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "evasion.restricted_syscall" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["severity"] as? String, "high")
        XCTAssertTrue((f["message"] as? String ?? "").contains("32-bit syscall 20"), "\(f)") // getpid's 32-bit number
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/after-monitor"), "monitor mode acts on nothing")

        let enforced = try run("\(KernelHarness.testops) int80 open after-enforce wc", mode: "enforce", confined: false)
        XCTAssertTrue(enforced.rules.contains("evasion.restricted_syscall"), "\(enforced.rules) \(enforced.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after-enforce"), "the caller ran on after its 32-bit call: \(enforced.stderr)")
    }
}
