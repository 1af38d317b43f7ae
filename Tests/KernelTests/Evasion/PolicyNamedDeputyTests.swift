import Foundation
import XCTest

/// Evasion tier, class 5 (leaving the session through a deputy). Technique: hand work to a
/// service of this host's own that runs commands for whoever connects to its unix socket
/// (a job runner, a root helper), one Tether has no built-in knowledge of. ATT&CK T1559
/// (Inter-Process Communication). The operator names its executable in the policy's
/// `deputies:` list; the kernel then judges its listener by that executable's inode, as it
/// does tmux's. The stand-in is a copy of tmux under another name and inode (so only the
/// policy's entry can name it), started by the test outside the session.
/// Monitor: the reach is found, naming the service. Enforce: the member dies at the
/// connect and the service never hears of the work.
final class PolicyNamedDeputyTests: TetherRunTestCase {
    func testAServiceThePolicyNamesIsADeputy() throws {
        let bin = "/tmp/tev-jobd-\(getpid())"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        cleanup.append(bin)
        let jobd = bin + "/jobd", sock = bin + "/s"
        try FileManager.default.copyItem(atPath: "/usr/bin/tmux", toPath: jobd)
        XCTAssertEqual(try shell("\(jobd) -S \(sock) new-session -d -s host 'sleep 600'"), 0)
        defer { _ = try? shell("\(jobd) -S \(sock) kill-server") }
        let policy = "deputies: [\(jobd)]\n"
        let script = "\(jobd) -S \(sock) new-window -d 'touch \(dir!)/job-ran'; touch after"

        let watched = try run(script, mode: "monitor", confined: false, topLevel: policy)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.deputy" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertTrue((f["message"] as? String ?? "").contains("reached jobd"), "the finding names the policy's service: \(f)")

        try? FileManager.default.removeItem(atPath: dir + "/job-ran")
        try? FileManager.default.removeItem(atPath: dir + "/after")
        let enforced = try run(script, mode: "enforce", confined: false, topLevel: policy)
        let g = try XCTUnwrap(enforced.findings.first { $0["rule"] as? String == "escape.deputy" }, "\(enforced.rules) \(enforced.stderr)")
        XCTAssertTrue((g["outcome"] as? String ?? "").contains("killed"), "\(g)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after"), "the session ran on: \(enforced.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/job-ran"), "the service ran the work: \(enforced.stderr)")

        // without the policy's entry the same service is no deputy (its inode is not tmux's)
        let unnamed = try run(script, mode: "monitor", confined: false)
        XCTAssertFalse(unnamed.rules.contains("escape.deputy"), "\(unnamed.findings)")
    }
}
