import Foundation
import TetherCore
import TetherExport
import XCTest

/// The `tether` binary as a user runs it.
final class CLITests: XCTestCase {
    static var bin: String {
        if let b = ProcessInfo.processInfo.environment["TETHER_BIN_DIR"] { return b }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug").path
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    func tether(_ args: [String], bin: String = "tether") throws -> Result { try CLITests.invoke(args, bin: bin) }

    /// Runs a built binary to its end: status, stdout, stderr.
    static func invoke(_ args: [String], bin: String = "tether") throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.bin + "/" + bin)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    override func setUpWithError() throws {
        _ = try KernelHarness.shared() // same rule as the kernel tier: fail if BPF cannot load
    }

    func testRunPassesTheExitStatusAndWritesEvents() throws {
        let dir = try makeScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let events = dir + "/events.jsonl"
        let r = try tether(["run", "--events", events, "--", "/bin/sh", "-c", "echo hi > \(dir)/out; exit 42"])
        XCTAssertEqual(r.status, 42, r.stderr)
        let lines = try String(contentsOfFile: events, encoding: .utf8)
        let evs = try EventJSON.decodeLines(lines)
        XCTAssertEqual(evs.first?.kind, .exec)
        XCTAssertTrue(evs.contains { $0.kind == .open && $0.path == dir + "/out" && $0.isWriteOpen })
        XCTAssertEqual(evs.last?.kind, .exit)
        XCTAssertEqual(evs.last?.exitCode, 42)
        XCTAssertEqual(Set(evs.map(\.session)).count, 1)
        for key in ["\"kind\"", "\"time\"", "\"pid\"", "\"ppid\"", "\"session\"", "\"comm\"", "\"exe\"", "\"result\""] {
            XCTAssertTrue(lines.split(separator: "\n").allSatisfy { $0.contains(key) }, "every line has \(key)")
        }
    }

    /// `--alerts FILE,format=falco`: a real finding in Falco's JSON (its checks in
    /// FalcoFormatTests), the process facts under Falco's field names.
    func testRunWritesFalcoJSONAlerts() throws {
        let dir = try makeScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let alerts = dir + "/falco.jsonl"
        let r = try tether(["run", "--standalone", "--state-dir", dir + "/state", "--alerts", alerts + ",format=falco", "--",
                            "/bin/sh", "-c", "cat /etc/shadow > /dev/null"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = try String(contentsOfFile: alerts, encoding: .utf8).split(separator: "\n")
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(objects.count, lines.count, "every line is JSON")
        let read = try XCTUnwrap(objects.first { $0["rule"] as? String == "escape.credentials" }, "\(lines)")
        XCTAssertEqual(read["priority"] as? String, "Error")
        let f = try XCTUnwrap(read["output_fields"] as? [String: Any])
        XCTAssertEqual(f["fd.name"] as? String, "/etc/shadow")
        XCTAssertEqual(f["proc.cmdline"] as? String, "cat /etc/shadow")
        XCTAssertEqual(f["proc.exepath"] as? String, "/usr/bin/cat")
        XCTAssertTrue(objects.contains { $0["rule"] as? String == "tether.session_ended" }, "Tether's own alerts too")
        let bad = try tether(["run", "--alerts", alerts + ",format=splunk", "--", "/bin/true"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("unknown format splunk"), bad.stderr)
    }

    /// Tests/Agents/validate_ocsf.py on `file`: ocsf-pydantic's models, offline, in the
    /// tests' venv (missing is a failure, not a skip). Its verdict is on stdout.
    static func validateOCSF(_ file: String) throws -> CLITests.Result {
        let python = try XCTUnwrap(ConfinementTests.agentPython, "the tests' venv is not installed: make agent-deps (make test does)")
        let validator = URL(fileURLWithPath: ConfinementTests.agentDriver).deletingLastPathComponent().appendingPathComponent("validate_ocsf.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [validator, file]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return CLITests.Result(status: p.terminationStatus, stdout: text, stderr: "")
    }

    /// The N of the validator's "valid N" (nil if it did not say it).
    static func validCount(_ r: CLITests.Result) -> Int? {
        guard r.status == 0, let line = r.stdout.split(separator: "\n").last(where: { $0.hasPrefix("valid ") }) else { return nil }
        return Int(line.dropFirst("valid ".count))
    }

    /// `--alerts FILE,format=ocsf`: real findings as OCSF Detection Findings, each valid
    /// against ocsf-pydantic's models (offline, in the tests' venv); the same validator
    /// refuses a record with a field of the wrong type.
    func testRunWritesValidOCSFDetectionFindings() throws {
        let dir = try makeScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let alerts = dir + "/ocsf.jsonl"
        let r = try tether(["run", "--standalone", "--state-dir", dir + "/state", "--alerts", alerts + ",format=ocsf", "--",
                            "/bin/sh", "-c", "cat /etc/shadow > /dev/null"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ok = try CLITests.validateOCSF(alerts)
        XCTAssertEqual(ok.status, 0, ok.stdout)
        XCTAssertTrue(ok.stdout.contains("valid 2"), "the finding and the session-end alert: \(ok.stdout)")
        let text = try String(contentsOfFile: alerts, encoding: .utf8)
        let read = try XCTUnwrap(text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { ($0["finding_info"] as? [String: Any])?["title"] as? String == "escape.credentials" })
        XCTAssertEqual(read["severity_id"] as? Int, 4)
        XCTAssertEqual(read["disposition_id"] as? Int, 15, "monitor mode: detected")
        let evidence = try XCTUnwrap((read["evidences"] as? [[String: Any]])?.first)
        XCTAssertEqual((evidence["file"] as? [String: Any])?["path"] as? String, "/etc/shadow")
        XCTAssertEqual((evidence["process"] as? [String: Any])?["cmd_line"] as? String, "cat /etc/shadow")
        let broken = dir + "/broken.jsonl"
        try text.replacingOccurrences(of: "\"severity_id\":4", with: "\"severity_id\":\"high\"").write(toFile: broken, atomically: true, encoding: .utf8)
        let bad = try CLITests.validateOCSF(broken)
        XCTAssertEqual(bad.status, 1, "the validator refuses a wrong type: \(bad.stdout)")
        XCTAssertTrue(bad.stdout.contains("severity_id"), bad.stdout)
    }

    /// `--events FILE,format=ocsf`: a real session (sh runs testops, which writes a file and
    /// connects to a listener here) as OCSF Process, File System and Network Activity, each
    /// record valid against ocsf-pydantic's models, and holding what the session did.
    func testRunWritesValidOCSFSessionEvents() throws {
        let dir = try makeScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (listener, bound, err) = loopbackSocket(Int32(SOCK_STREAM.rawValue))
        defer { close(listener) }
        XCTAssertEqual(err, 0, String(cString: strerror(err)))
        let port = Int(bound)
        let events = dir + "/events.ocsf.jsonl", written = dir + "/out.txt"
        let ops = URL(fileURLWithPath: KernelHarness.testops).resolvingSymlinksInPath().path
        let r = try tether(["run", "--standalone", "--no-ledger", "--events", events + ",format=ocsf", "--",
                            "/bin/sh", "-c", "\(ops) write \(written) hello connect4 127.0.0.1 \(port); exit 0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ok = try CLITests.validateOCSF(events)
        let text = try String(contentsOfFile: events, encoding: .utf8)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(CLITests.validCount(ok), lines.count, "every line valid: \(ok.stdout)")
        XCTAssertGreaterThan(lines.count, 0)
        let records = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(records.count, lines.count, "every line is JSON")
        func object(_ o: [String: Any], _ key: String) -> [String: Any] { o[key] as? [String: Any] ?? [:] }
        let launch = records.first {
            $0["type_uid"] as? Int == 100701 && object(object($0, "process"), "file")["path"] as? String == ops
        }
        XCTAssertNotNil(launch, "a Process Activity: Launch for the exec of testops: \(text)")
        XCTAssertTrue((launch.map { object($0, "process")["cmd_line"] as? String ?? "" } ?? "").contains("write \(written) hello"), "\(launch ?? [:])")
        let file = records.first { $0["class_uid"] as? Int == 1001 && object($0, "file")["path"] as? String == written }
        XCTAssertNotNil(file, "a File System Activity naming \(written): \(text)")
        XCTAssertEqual(file?["activity_name"] as? String, "Create")
        XCTAssertEqual(object(object(file ?? [:], "actor"), "process")["pid"] as? Int, launch.flatMap { object($0, "process")["pid"] as? Int })
        let net = records.first { $0["class_uid"] as? Int == 4001 && object($0, "dst_endpoint")["port"] as? Int == port }
        XCTAssertNotNil(net, "a Network Activity to port \(port): \(text)")
        XCTAssertEqual(object(net ?? [:], "dst_endpoint")["ip"] as? String, "127.0.0.1")
        XCTAssertEqual(net?["status"] as? String, "Success")
        let sessions = Set(records.compactMap { object(object($0, "unmapped"), "tether")["session"] as? String })
        XCTAssertEqual(sessions.count, 1, "one session, in Tether's own event under unmapped.tether")
        XCTAssertEqual(Set(records.compactMap { object($0, "metadata")["correlation_uid"] as? String }), sessions)

        // every kind, failed calls and unusual endpoints included, passes the same models
        var synthetic: [String] = []
        for kind in EventKind.allCases {
            for result: Int64 in [0, -13, -115] {
                var e = Event(kind: kind, time: 1_000_000_000, pid: 100, ppid: 1, uid: 1000, session: SessionID(0x5eed), syscall: 1, result: result, comm: "agent")
                e.exe = "/usr/bin/agent"
                e.path = "/tmp/x"
                e.newPath = "/tmp/y"
                e.argv = kind == .exec ? ["agent", "-v"] : nil
                e.target = kind == .fork || kind == .kill || kind == .ptrace ? 101 : nil
                (e.family, e.addr, e.port) = result == 0 ? (.inet6, "::1", 443) : (.unix, "@abstract", nil)
                e.op = kind == .device ? "read" : kind == .mountAPI ? "move_mount" : nil
                synthetic.append(OCSFEvents.encode(e))
            }
        }
        let every = dir + "/every.jsonl"
        try (synthetic.joined(separator: "\n") + "\n").write(toFile: every, atomically: true, encoding: .utf8)
        let all = try CLITests.validateOCSF(every)
        XCTAssertEqual(CLITests.validCount(all), synthetic.count, all.stdout)

        // the validator refuses another class, another version, and a type_uid its class and activity do not make
        let create = try XCTUnwrap(lines.first { $0.contains("\"class_uid\":1001") && $0.contains("\"type_uid\":100101") })
        for (what, from, to) in [("class", "\"class_uid\":1001", "\"class_uid\":1002"), ("version", "\"version\":\"1.2.0\"", "\"version\":\"1.1.0\""),
                                 ("type_uid", "\"type_uid\":100101", "\"type_uid\":100102")] {
            let bad = dir + "/bad-\(what).jsonl"
            try create.replacingOccurrences(of: from, with: to).write(toFile: bad, atomically: true, encoding: .utf8)
            let v = try CLITests.validateOCSF(bad)
            XCTAssertEqual(v.status, 1, "\(what): \(v.stdout)")
        }

        // an unknown format is a usage error naming the option, before anything runs
        let unknown = try tether(["run", "--events", events + ",format=splunk", "--", "/bin/true"])
        XCTAssertEqual(unknown.status, 64, unknown.stderr)
        XCTAssertTrue(unknown.stderr.contains("--events") && unknown.stderr.contains("unknown format splunk"), unknown.stderr)
        let daemon = try tether(["--events", events + ",format=splunk"], bin: "tetherd")
        XCTAssertEqual(daemon.status, 64, daemon.stderr)
        XCTAssertTrue(daemon.stderr.contains("--events") && daemon.stderr.contains("unknown format splunk"), daemon.stderr)
    }

    func testRunReportsSignalDeathAsShellStatus() throws {
        let r = try tether(["run", "--", "/bin/sh", "-c", "kill -TERM $$"])
        XCTAssertEqual(r.status, 128 + 15)
    }

    func testMissingBinaryIsAClearError() throws {
        let r = try tether(["run", "--", "/no/such/agent"])
        XCTAssertEqual(r.status, 127)
        XCTAssertTrue(r.stderr.contains("/no/such/agent"), r.stderr)
        XCTAssertTrue(r.stderr.contains("No such file"), r.stderr)
    }

    func testUnknownFlagAndMissingCommand() throws {
        let r = try tether(["run", "--bogus", "--", "/bin/true"])
        XCTAssertEqual(r.status, 64, "rejected, not run as the command: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("unknown option --bogus"), r.stderr)
        for bad in ["-5", "1e30", "nan"] {
            let g = try tether(["run", "--grace", bad, "--", "/bin/true"])
            XCTAssertEqual(g.status, 64, g.stderr)
            XCTAssertTrue(g.stderr.contains("--grace") && !g.stderr.contains("Missing value"), g.stderr)
        }
        let exe = try tether(["run", "--standalone", "--", "/etc/passwd"])
        XCTAssertEqual(exe.status, 126, exe.stderr)
        XCTAssertFalse(exe.stderr.contains("loading BPF needs root"), "a failed exec is not a privilege problem: \(exe.stderr)")
        XCTAssertFalse(exe.stderr.contains("persist.accounts"), "a failed exec of a data file is not the passwd tool: \(exe.stderr)")
        let r2 = try tether(["run"])
        XCTAssertNotEqual(r2.status, 0)
        XCTAssertTrue(r2.stderr.contains("missing command"), r2.stderr)
        let r3 = try tether(["run", "--workspace", "/no/such/dir", "--", "/bin/true"])
        XCTAssertNotEqual(r3.status, 0)
        XCTAssertTrue(r3.stderr.contains("/no/such/dir"), r3.stderr)
    }

    func testUnwritableEventsFileIsAClearError() throws {
        let r = try tether(["run", "--events", "/no/such/dir/e.jsonl", "--", "/bin/true"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("/no/such/dir/e.jsonl"), r.stderr)
    }

    func testWatchFollowsARunningProcess() throws {
        let dir = try makeScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let marker = dir + "/late", gate = dir + "/go"
        let target = Process()
        target.executableURL = URL(fileURLWithPath: KernelHarness.testops)
        // it spawns once tether watch says it is watching (the test says when)
        target.arguments = ["wait-file", gate, "spawn", "/bin/sh", "-c", "echo > \(marker)", "--"]
        try target.run()
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: CLITests.bin + "/tether")
        watch.arguments = ["watch", "--events", "-", String(target.processIdentifier)]
        let out = Pipe(), err = Pipe()
        watch.standardOutput = out
        watch.standardError = err
        try watch.run()
        let said = StderrReader(err.fileHandleForReading, when: "watching pid") {
            FileManager.default.createFile(atPath: gate, contents: nil)
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        watch.waitUntilExit()
        FileManager.default.createFile(atPath: gate, contents: nil) // a watch that failed: the target goes anyway
        target.waitUntilExit()
        let r = Result(status: watch.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                       stderr: String(decoding: said.finish(), as: UTF8.self))
        XCTAssertEqual(r.status, 0, r.stderr)
        let evs = try EventJSON.decodeLines(r.stdout)
        XCTAssertTrue(evs.contains { $0.kind == .open && $0.path == marker }, r.stdout)
        XCTAssertTrue(evs.contains { $0.kind == .exit && $0.pid == target.processIdentifier })
        XCTAssertEqual(Set(evs.map(\.session)).count, 1)
        XCTAssertEqual(evs.first { $0.pid == target.processIdentifier }?.exe,
                       URL(fileURLWithPath: KernelHarness.testops).resolvingSymlinksInPath().path,
                       "a process tracked mid-life is known from /proc")
    }

    func testWatchOfAMissingPid() throws {
        let r = try tether(["watch", "999999"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no process 999999"), r.stderr)
    }
}
