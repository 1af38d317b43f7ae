import Foundation
import XCTest

/// Evasion tier, class 7 (tampering without signals). Technique: take a copy of one of
/// the watcher's file descriptors with pidfd_open + pidfd_getfd (a BPF map to zero, its
/// ring buffer, its control socket), here fd 3 of `tether run` ($PPID).
/// ATT&CK T1562.001 (Impair Defenses: Disable or Modify Tools).
/// The pidfd is the first step: in enforce mode the kernel ends the caller on its return
/// from pidfd_open, so no descriptor is ever taken (confined or not).
final class StealTheWatchersFdTests: TetherRunTestCase {
    func testPidfdGetfdOnTheWatcherIsTamperingAndNoFdIsTaken() throws {
        let cmd = "\(KernelHarness.testops) getfd $PPID 3 > out.txt"
        let watched = try run(cmd, mode: "monitor", confined: false)
        let messages = watched.findings.compactMap { $0["message"] as? String }
        XCTAssertTrue(messages.contains { $0.contains("pidfd_getfd on Tether") }, "\(messages) \(watched.stderr)")
        XCTAssertTrue(watched.findings.contains { $0["rule"] as? String == "evasion.restricted_syscall" && ($0["message"] as? String ?? "").contains("pidfd_getfd") },
                      "the mechanism is a finding of its own: \(messages)")

        for confined in [false, true] {
            let enforced = try run(cmd, mode: "enforce", confined: confined)
            let f = try XCTUnwrap(enforced.findings.first { $0["rule"] as? String == "escape.tamper" }, "\(enforced.rules) \(enforced.stderr)")
            XCTAssertTrue((f["message"] as? String ?? "").contains("pidfd_open on Tether"), "\(f)")
            let out = (try? String(contentsOfFile: dir + "/out.txt", encoding: .utf8)) ?? ""
            XCTAssertFalse(out.contains("getfd"), "confined=\(confined): the caller ran on past pidfd_open: \(out)")
        }
    }
}
