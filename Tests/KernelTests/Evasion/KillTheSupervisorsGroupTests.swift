import Foundation
import XCTest

/// Evasion tier, class 7 (tampering without signals to Tether by name). Technique: signal
/// the agent's own process group, `kill(0, SIGKILL)`: were `tether run` in that group, the
/// watcher would die with the agent, and nothing after would be judged or reported.
/// ATT&CK T1562.001 (Impair Defenses: Disable or Modify Tools).
/// The agent gets a process group of its own; the watcher outlives it and reports.
final class KillTheSupervisorsGroupTests: TetherRunTestCase {
    func testKillingTheAgentsGroupLeavesTheWatcherRunning() throws {
        for mode in ["monitor", "enforce"] {
            let r = try run("kill -9 0; touch after", mode: mode, confined: false)
            XCTAssertEqual(r.status, 128 + 9, "\(mode): the agent died of its own SIGKILL: \(r.stderr)")
            XCTAssertTrue(r.rules.contains("tether.session_ended"), "\(mode): tether run did not live to settle the session: \(r.rules) \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after"))
        }
    }
}
