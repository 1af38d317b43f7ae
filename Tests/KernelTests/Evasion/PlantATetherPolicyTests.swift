import Foundation
import XCTest

/// Evasion tier, class 4/7. Technique: where Tether has no configuration directory yet,
/// create it and plant a policy that watches nothing (or, where it exists, drop a file in
/// it): the next tetherd start obeys the agent. `mkdir` puts no file there, so a guard on
/// opens alone never saw it. ATT&CK T1562.001 (Impair Defenses: Disable or Modify Tools).
/// The kernel's entry guard judges mkdir's new name as it does a symlink's: Tether's
/// paths are protected by name before they exist.
final class PlantATetherPolicyTests: TetherRunTestCase {
    func testPlantingTetherConfigurationIsTamperingAndInEnforceModeNothingIsPlanted() throws {
        let existed = FileManager.default.fileExists(atPath: "/etc/tether")
        let planted = existed ? "/etc/tether/planted-\(getpid()).yaml" : "/etc/tether/policy.yaml"
        let script = (existed ? "" : "mkdir /etc/tether && ") + "printf 'version: 1\\nagents: []\\n' > \(planted)"
        defer {
            try? FileManager.default.removeItem(atPath: planted)
            if !existed { rmdir("/etc/tether") }
        }
        let watched = try run(script, mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.tamper" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["severity"] as? String, "critical")
        XCTAssertTrue((f["message"] as? String ?? "").contains("/etc/tether"), "\(f)")

        try? FileManager.default.removeItem(atPath: planted)
        if !existed { rmdir("/etc/tether") }
        let enforced = try run(script, mode: "enforce", confined: false)
        XCTAssertTrue(enforced.rules.contains("escape.tamper"), "\(enforced.rules) \(enforced.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: planted), "a policy was planted: \(enforced.stderr)")
    }
}
