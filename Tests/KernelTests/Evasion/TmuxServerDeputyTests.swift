import Foundation
import XCTest

/// Evasion tier, class 5 (leaving the session through a deputy). Technique: hand a command
/// to a tmux server that was running before the session (the operator's), as a new window:
/// the server, not a member, forks and runs it, outside the session, with the server's
/// identity and lifetime. The socket is reached by a path of the test's choosing, so no
/// path rule could name it. ATT&CK T1559 (Inter-Process Communication).
/// The kernel names the listener at the connect (the process that called listen(), by its
/// executable's inode): in monitor mode the reach is found and what the server forks for
/// the session is followed as a member (its read of /etc/shadow is a finding of its own);
/// in enforce mode the member dies at the connect, before it has sent the server a byte,
/// and no window is opened.
final class TmuxServerDeputyTests: TetherRunTestCase {
    func testWorkHandedToARunningTmuxServerIsFollowedAndRefused() throws {
        let tmux = "/usr/bin/tmux"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: tmux), "tmux is installed by `make deps-test`")
        // the operator's server, started before (and outside) the session
        let run = "/tmp/tev-tmux-\(getpid())"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        cleanup.append(run)
        let sock = run + "/s"
        XCTAssertEqual(try shell("\(tmux) -S \(sock) new-session -d -s operator 'sleep 600'"), 0)
        defer { _ = try? shell("\(tmux) -S \(sock) kill-server") }
        XCTAssertEqual(try windows(tmux, sock), 1)

        // the window reads a credential, then says it is done; the member waits for that
        let script = "\(tmux) -S \(sock) new-window -d 'cat /etc/shadow > /dev/null; touch \(dir!)/window-done'; " +
            "while [ ! -e window-done ]; do sleep 0.05; done; touch after"
        let watched = try self.run(script, mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.deputy" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["severity"] as? String, "critical")
        let message = f["message"] as? String ?? ""
        XCTAssertTrue(message.contains("reached tmux"), "the finding names the deputy by its executable: \(f)")
        XCTAssertTrue(message.contains(sock), "and the socket reached: \(f)")
        // the server's child was followed: the credential read is the session's
        let read = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.credentials" }, "the window was not followed: \(watched.rules)")
        XCTAssertTrue((read["message"] as? String ?? "").contains("/etc/shadow"), "\(read)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/after"))
        // the window has finished: the operator's session is as it was
        try? FileManager.default.removeItem(atPath: dir + "/window-done")
        try? FileManager.default.removeItem(atPath: dir + "/after")

        // enforce: the member dies at the connect; the server never hears of the window
        let enforced = try self.run(script, mode: "enforce", confined: false)
        let g = try XCTUnwrap(enforced.findings.first { $0["rule"] as? String == "escape.deputy" }, "\(enforced.rules) \(enforced.stderr)")
        XCTAssertEqual(g["enforced"] as? Bool, true, "\(g)")
        XCTAssertTrue((g["outcome"] as? String ?? "").contains("killed"), "\(g)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/window-done"), "the deputy ran the command: \(enforced.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after"), "the session ran on: \(enforced.stderr)")
        XCTAssertEqual(try windows(tmux, sock), 1, "a window was opened")
    }

    func windows(_ tmux: String, _ sock: String) throws -> Int {
        let out = dir + "/windows.txt"
        XCTAssertEqual(try shell("\(tmux) -S \(sock) list-windows > \(out)"), 0)
        return try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").count
    }
}
