import Foundation
import XCTest

/// Evasion tier, class 5 (leaving the session through a deputy). Technique: push a command
/// into a terminal's input with ioctl(TIOCSTI), as if typed there: the person's shell, once
/// the agent is done, reads and runs it outside any session. Here into a terminal the test
/// holds (a pty), so nothing on this host ever reads it. ATT&CK T1059.004 (Command and
/// Scripting Interpreter: Unix Shell).
/// Monitor: found, and the input waits in the terminal. Enforce, adopted: the caller dies at
/// the first byte and the terminal's pending input is discarded. Confined: seccomp refuses
/// TIOCSTI (EPERM) and nothing is pushed.
final class TerminalInjectionTests: TetherRunTestCase {
    func testInputPushedIntoATerminalIsFoundDiscardedAndRefused() throws {
        // a pty of the test's own, held open (by a helper) while the test runs
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: KernelHarness.testops)
        holder.arguments = ["pty-hold"]
        let input = Pipe(), output = Pipe()
        holder.standardInput = input
        holder.standardOutput = output
        try holder.run()
        defer { try? input.fileHandleForWriting.close(); holder.waitUntilExit() }
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let d = output.fileHandleForReading.availableData
            if d.isEmpty { break }
            line.append(d)
        }
        let tty = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(tty.hasPrefix("/dev/pts/"), "no pty: \(tty)")
        func pending() throws -> String { try testops(["tty-pending", tty]) }

        let cmd = "\(KernelHarness.testops) tiocsti \(tty) id > out.txt"
        let watched = try run(cmd, mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.tty_injection" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["severity"] as? String, "critical")
        XCTAssertTrue((f["message"] as? String ?? "").contains(tty), "\(f)")
        XCTAssertEqual(try pending(), "tty-pending 3", "monitor mode: \"id\\n\" waits in the terminal")
        _ = try testops(["tty-flush", tty])

        let enforced = try run(cmd, mode: "enforce", confined: false)
        let g = try XCTUnwrap(enforced.findings.first { $0["rule"] as? String == "escape.tty_injection" }, "\(enforced.rules) \(enforced.stderr)")
        XCTAssertTrue((g["outcome"] as? String ?? "").contains("the input pending on \(tty) discarded"), "\(g)")
        XCTAssertEqual(try pending(), "tty-pending 0", "pushed input is still there: \(enforced.stderr)")

        let confined = try run(cmd, mode: "enforce")
        XCTAssertTrue(confined.rules.contains("escape.tty_injection"), "\(confined.rules) \(confined.stderr)")
        XCTAssertEqual(try String(contentsOfFile: dir + "/out.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), "tiocsti \(EPERM)")
        XCTAssertEqual(try pending(), "tty-pending 0")
    }
}
