import Foundation
import TetherCore
import TetherProbe
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
    /// What the last daemon started wrote up to "ready".
    var startLog = ""

    func startDaemon(policy: String, events: String, extra: [String] = []) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.bin + "/tetherd")
        // own control socket and no pinning: tests never touch a real daemon's state
        p.arguments = ["--policy", policy, "--events", events, "--status-interval", "0",
                       "--control", "", "--pin-dir", "", "--state-dir", (events as NSString).deletingLastPathComponent + "/state"] + extra
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
        startLog = log
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
        let earlyMarker = dir + "/early", gate = dir + "/go"
        // it opens the marker once the daemon, ready, has adopted it (the test says when)
        early.arguments = ["wait-file", gate, "open", earlyMarker, "wc"]
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
        FileManager.default.createFile(atPath: gate, contents: nil)

        let late = Process()
        late.executableURL = URL(fileURLWithPath: KernelHarness.testops)
        let lateMarker = dir + "/late"
        late.arguments = ["open", lateMarker, "wc", "spawn", "/bin/true", "--"]
        try late.run()
        late.waitUntilExit()
        early.waitUntilExit()
        // both opens reached the events file before the daemon is stopped
        let deadline = Date().addingTimeInterval(20)
        func opened(_ path: String) -> Bool {
            ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").contains("\"path\":\"\(path)\"")
        }
        while !(opened(earlyMarker) && opened(lateMarker)) && Date() < deadline { usleep(20_000) }
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

    /// An agent member SIGKILLs tetherd: the kernel kills the member on return and freezes
    /// its session with no daemon; the restarted tetherd (same pins) reports the tamper
    /// finding, and the session is still frozen.
    func testTamperingWithTetherdIsContainedAcrossItsRestart() throws {
        let testops = URL(fileURLWithPath: KernelHarness.testops).resolvingSymlinksInPath().path
        let policy = dir + "/policy.yaml"
        try "agents:\n  - name: rogue\n    mode: enforce\n    match:\n      exe: [\"\(testops)\"]\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let pins = "/sys/fs/bpf/tether-test-daemon-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: pins) }
        let alerts = dir + "/alerts.jsonl"
        let extra = ["--pin-dir", pins, "--alerts-json", alerts]
        let (first, err1) = try startDaemon(policy: policy, events: dir + "/events1.jsonl", extra: extra)
        defer { if first.isRunning { first.terminate(); first.waitUntilExit() } }
        let marker = dir + "/progress"
        // On every way out, failures included: the frozen grandchild holds the test's
        // output open, and `swift test` would wait for it forever.
        defer { for pid in processes(mentioning: marker) { kill(pid, SIGKILL) } }
        // started held but not tracked by the test: the daemon's exec watch makes it a session
        let agent = try Launcher.spawn([testops, "daemon-progress", marker, "sleep-ms", "300", "kill", String(first.processIdentifier), "9",
                                        "sleep-ms", "100000"], session: SessionID.random()) { _ in }
        XCTAssertEqual(Launcher.wait(agent.pid), 128 + 9, "the sender died on return from kill()")
        first.waitUntilExit()
        // (not read to its end: the frozen grandchild inherited the pipe and stays alive)
        try? err1.fileHandleForReading.close()
        XCTAssertEqual(first.terminationReason, .uncaughtSignal, "tracepoints cannot cancel the SIGKILL itself")
        let c = (try? String(contentsOfFile: marker, encoding: .utf8)) ?? ""
        usleep(200_000)
        XCTAssertEqual((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "", c, "the session froze with no daemon")

        let (second, err2) = try startDaemon(policy: policy, events: dir + "/events2.jsonl", extra: extra)
        defer { if second.isRunning { second.terminate(); second.waitUntilExit() } }
        XCTAssertTrue(startLog.contains("pid \(first.processIdentifier) was protected by an earlier instance and is gone"), startLog)
        var found: [String: Any]?
        let deadline = Date().addingTimeInterval(10)
        while found == nil && Date() < deadline {
            let lines = ((try? String(contentsOfFile: alerts, encoding: .utf8)) ?? "").split(separator: "\n")
            found = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .first { $0["rule"] as? String == "escape.tamper" }
            usleep(50_000)
        }
        let tamper = try XCTUnwrap(found, "the tamper finding was not reported")
        XCTAssertEqual(tamper["severity"] as? String, "critical")
        XCTAssertTrue((tamper["message"] as? String ?? "").contains("signal to Tether"), "\(tamper)")
        XCTAssertEqual((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "", c, "still frozen under the restarted daemon")
        // clean up: the frozen grandchild, then the daemon
        for pid in processes(mentioning: marker) { kill(pid, SIGKILL) }
        second.interrupt()
        _ = err2.fileHandleForReading.readDataToEndOfFile()
        second.waitUntilExit()
        XCTAssertEqual(second.terminationStatus, 0)
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

    func testBadRingBufferSizeIsAUsageError() throws {
        for bad in ["3", "0", "2048"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLITests.bin + "/tetherd")
            p.arguments = ["--ring-buffer-mib", bad, "--policy", dir + "/none.yaml"]
            let err = Pipe()
            p.standardError = err
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 64, text)
            XCTAssertTrue(text.contains("--ring-buffer-mib \(bad): expected a power of two"), text)
        }
    }
}

/// Processes whose command line mentions `text` (the daemonized progress writer of a test).
func processes(mentioning text: String) -> [Int32] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap { Int32($0) }.filter { pid in
        guard let d = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: d, as: UTF8.self).contains(text)
    }
}
