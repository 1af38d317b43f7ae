import Foundation
import TetherCore
import XCTest

/// tetherd as a process: policy-driven sessions, adoption of running agents, bad input.
final class DaemonTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        _ = try KernelHarness.shared()
        dir = try makeScratch(name)
    }

    override func tearDownWithError() throws {
        if let d = dir { try? FileManager.default.removeItem(atPath: d) }
    }

    /// Starts tetherd; returns it once it has logged "ready".
    func startDaemon(policy: String, events: String, extra: [String] = []) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.bin + "/tetherd")
        // own control socket and no pinning: tests never touch a real daemon's state
        p.arguments = ["--policy", policy, "--events", events, "--status-interval", "0",
                       "--control", "", "--pin-dir", ""] + extra
        let err = Pipe()
        p.standardError = err
        try p.run()
        var log = ""
        let deadline = Date().addingTimeInterval(20)
        while !log.contains("tetherd: ready") && Date() < deadline && p.isRunning {
            let d = err.fileHandleForReading.availableData
            log += String(decoding: d, as: UTF8.self)
        }
        XCTAssertTrue(log.contains("tetherd: ready"), "tetherd did not become ready: \(log)")
        return (p, err)
    }

    func stop(_ p: Process, _ err: Pipe) -> String {
        p.interrupt()
        let rest = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        return String(decoding: rest, as: UTF8.self)
    }

    func testPolicyMatchStartsSessionAtExecAndAdoptsRunningAgents() throws {
        // an agent already running before the daemon starts
        let early = Process()
        early.executableURL = URL(fileURLWithPath: KernelHarness.testops)
        let earlyMarker = dir + "/early"
        early.arguments = ["sleep-ms", "1500", "open", earlyMarker, "wc"]
        try early.run()

        let policy = dir + "/policy.yaml"
        try """
        agents:
          - name: test-agent
            match:
              exe: ["\(URL(fileURLWithPath: KernelHarness.testops).resolvingSymlinksInPath().path)"]
        """.write(toFile: policy, atomically: true, encoding: .utf8)
        let events = dir + "/events.jsonl"
        let (d, err) = try startDaemon(policy: policy, events: events)

        let late = Process()
        late.executableURL = URL(fileURLWithPath: KernelHarness.testops)
        let lateMarker = dir + "/late"
        late.arguments = ["open", lateMarker, "wc", "spawn", "/bin/true", "--"]
        try late.run()
        late.waitUntilExit()
        early.waitUntilExit()
        usleep(200_000)
        let log = stop(d, err)
        XCTAssertTrue(log.contains("stopped"), log)
        let evs = try EventJSON.decodeLines(String(contentsOfFile: events, encoding: .utf8))
        let exec = try XCTUnwrap(evs.first { $0.kind == .exec && $0.pid == late.processIdentifier })
        XCTAssertTrue(exec.sessionStart, "the exec itself started the session, in the kernel")
        XCTAssertTrue(evs.contains { $0.kind == .open && $0.path == lateMarker && $0.session == exec.session })
        XCTAssertTrue(evs.contains { $0.kind == .exec && $0.path == "/usr/bin/true" && $0.session == exec.session },
                      "descendants inherit the session")
        let adopted = try XCTUnwrap(evs.first { $0.kind == .open && $0.path == earlyMarker })
        XCTAssertEqual(adopted.pid, early.processIdentifier)
        XCTAssertNotEqual(adopted.session, exec.session)
        XCTAssertEqual(adopted.exe, URL(fileURLWithPath: KernelHarness.testops).resolvingSymlinksInPath().path)
    }

    func testBadPolicyIsAClearErrorWithLocation() throws {
        let policy = dir + "/bad.yaml"
        try "agents:\n  - name: x\n    match:\n      comm: [\"this-name-is-far-too-long-for-comm\"]\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.bin + "/tetherd")
        p.arguments = ["--policy", policy]
        let err = Pipe()
        p.standardError = err
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(text.contains("\(policy):4:"), text)
        XCTAssertTrue(text.contains("comm"), text)

        let missing = Process()
        missing.executableURL = URL(fileURLWithPath: CLITests.bin + "/tetherd")
        missing.arguments = ["--policy", dir + "/none.yaml"]
        let err2 = Pipe()
        missing.standardError = err2
        try missing.run()
        let text2 = String(decoding: err2.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        missing.waitUntilExit()
        XCTAssertNotEqual(missing.terminationStatus, 0)
        XCTAssertTrue(text2.contains("none.yaml"), text2)
    }
}
