import Foundation
import XCTest

/// Evasion tier, class 7 (tampering). Technique: signal the watcher itself, `kill -CONT
/// $PPID` here (harmless, so monitor mode can run it; SIGSTOP or SIGKILL would blind or end
/// the watch). ATT&CK T1562.001 (Impair Defenses: Disable or Modify Tools).
/// The kernel's tamper guard matches any signal to Tether's processes: in enforce mode the
/// sender dies on return from kill(2), before its next instruction.
final class SignalTheWatcherTests: TetherRunTestCase {
    func testASignalToTetherRunIsTamperingAndTheSenderDiesInEnforceMode() throws {
        let watched = try run("kill -CONT $PPID; touch after-monitor", mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.tamper" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertTrue((f["message"] as? String ?? "").contains("signal to Tether"), "\(f)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/after-monitor"))

        let enforced = try run("kill -CONT $PPID; touch after-enforce", mode: "enforce", confined: false)
        XCTAssertTrue(enforced.rules.contains("escape.tamper"), "\(enforced.rules) \(enforced.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after-enforce"), "the sender ran on: \(enforced.stderr)")
    }
}
