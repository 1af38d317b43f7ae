import Foundation
import XCTest

/// Real scripts under `tether run` (the CLI, its own probes) in a scratch workspace, with
/// the findings it wrote: the live classification tests and the evasion tier use it.
class TetherRunTestCase: XCTestCase {
    var dir: String!
    var cleanup: [String] = []

    override func setUpWithError() throws {
        _ = try KernelHarness.shared()
        dir = try makeScratch(name)
    }

    override func tearDownWithError() throws {
        for p in cleanup { try? FileManager.default.removeItem(atPath: p) }
        if let d = dir { try? FileManager.default.removeItem(atPath: d) }
    }

    struct Outcome {
        var status: Int32
        var findings: [[String: Any]]
        var stderr: String
        var rules: Set<String> { Set(findings.compactMap { $0["rule"] as? String }) }
    }

    /// `tether run --mode MODE --alerts FILE -- /bin/sh -c SCRIPT` in the scratch workspace.
    /// `confined: false` turns Landlock and seccomp off (a policy file of its own), so that
    /// the tracepoint guards, which adopted sessions rely on, are what acts; ConfinementTests
    /// covers the launched sessions' refusals.
    /// `env`: variables to set for `tether run` (and so for the agent it launches);
    /// `rules`, `defaults`: YAML lines under the policy's `rules:` and `defaults:` (with
    /// `confined: false` only); `topLevel`: top-level YAML lines. `when`: once `tether run` has said this on stderr, `then`
    /// runs (e.g. makes a file the script waits for).
    func run(_ script: String, mode: String = "enforce", extra: [String] = [], confined: Bool = true,
             env: [String: String] = [:], rules: String = "", defaults: String = "", topLevel: String = "", timeout: TimeInterval = 60,
             when said: String? = nil, then: @escaping () -> Void = {}) throws -> Outcome {
        let alerts = dir + "/alerts-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        var extra = extra
        // what is undone goes to the test's own quarantine, not the host's
        if !extra.contains("--state-dir") { extra += ["--state-dir", dir + "/state"] }
        if !confined {
            precondition(!extra.contains("--policy"))
            let policy = dir + "/tracepoints-only.yaml"
            let ruleLines = rules.isEmpty ? "" : "  rules:\n" + rules.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n"
            let defaultLines = defaults.isEmpty ? "" : defaults.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
            try ("version: 1\n" + topLevel + "defaults:\n  confine: {landlock: false, seccomp: false}\n" + defaultLines + ruleLines)
                .write(toFile: policy, atomically: true, encoding: .utf8)
            extra += ["--policy", policy]
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.bin + "/tether")
        p.arguments = ["run", "--standalone", "--mode", mode, "--alerts", alerts, "--workspace", dir] + extra + ["--", "/bin/sh", "-c", script]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        // stderr is read as it comes (a session may wait on what tether run says)
        let reader = StderrReader(err.fileHandleForReading, when: said, then: then)
        // a stopped session waits for a person: kill it if the test's budget runs out
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { p.interrupt(); kill(p.processIdentifier, SIGKILL) }
        let errText = reader.finish()
        p.waitUntilExit()
        let lines = ((try? String(contentsOfFile: alerts, encoding: .utf8)) ?? "").split(separator: "\n")
        let findings = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return Outcome(status: p.terminationStatus, findings: findings, stderr: String(decoding: errText, as: UTF8.self))
    }

    /// `sh -c command` from the test (outside any session), waited for by its pid: a
    /// daemon it starts (a tmux server) outlives it and must hold nothing the wait depends
    /// on (Foundation's Process watches a descriptor such a daemon would inherit).
    func shell(_ command: String) throws -> Int32 {
        var pid: pid_t = 0
        let words: [String] = ["/bin/sh", "-c", command]
        let args: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { args.forEach { free($0) } }
        let rc = posix_spawn(&pid, "/bin/sh", nil, nil, args, environ)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    /// An evasion-tier check of one technique that connects to 127.0.0.1:`port` (a listener
    /// of the test's own stands there unless something already listens, e.g. the host's
    /// sshd, which the connect then reaches): in monitor mode the finding `rule` (critical)
    /// says `naming` and the connect succeeds; in enforce mode the kernel refuses it (EPERM).
    func assertConnectFoundAndRefused(port: UInt16, rule: String, naming: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (listener, _, err) = loopbackSocket(Int32(SOCK_STREAM.rawValue), port: port)
        defer { close(listener) }
        XCTAssertTrue(err == 0 || err == EADDRINUSE, "binding 127.0.0.1:\(port): errno \(err)", file: file, line: line)
        func outcome() throws -> String {
            try String(contentsOfFile: dir + "/out.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        let cmd = "\(KernelHarness.testops) connect-errno 127.0.0.1 \(port) > out.txt"
        let watched = try run(cmd, mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == rule }, "\(watched.rules) \(watched.stderr)", file: file, line: line)
        XCTAssertEqual(f["severity"] as? String, "critical", file: file, line: line)
        XCTAssertTrue((f["message"] as? String ?? "").contains(naming), "\(f)", file: file, line: line)
        XCTAssertEqual(try outcome(), "connect 0", "monitor mode refuses nothing", file: file, line: line)

        let enforced = try run(cmd, mode: "enforce", confined: false)
        XCTAssertTrue(enforced.rules.contains(rule), "\(enforced.rules) \(enforced.stderr)", file: file, line: line)
        XCTAssertEqual(try outcome(), "connect \(EPERM)", "the kernel must refuse the connect: \(enforced.stderr)", file: file, line: line)
    }

    /// An evasion-tier check of one technique that sends `sent` datagrams to a loopback
    /// receiver of the test's own (`command` is given its port) where the allow-list leaves
    /// loopback out: in monitor mode escape.network says `naming` and every datagram got
    /// out; in enforce mode none did (that run is returned).
    @discardableResult
    func assertDatagramsFoundAndRefused(_ command: (UInt16) -> String, sent: Int, file: StaticString = #filePath, line: UInt = #line,
                                        naming: (UInt16) -> [String]) throws -> Outcome {
        let (receiver, port, err) = loopbackSocket(Int32(SOCK_DGRAM.rawValue))
        defer { close(receiver) }
        XCTAssertEqual(err, 0, file: file, line: line)
        let cmd = command(port)
        let policy = "boundary:\n  network: {allow_loopback: false}"

        let watched = try run(cmd, mode: "monitor", confined: false, defaults: policy)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.network" }, "\(watched.rules) \(watched.stderr)",
                              file: file, line: line)
        let message = f["message"] as? String ?? ""
        XCTAssertTrue(naming(port).allSatisfy { message.contains($0) }, "\(f)", file: file, line: line)
        XCTAssertEqual(takeDatagrams(receiver), sent, "monitor mode refuses nothing", file: file, line: line)

        let enforced = try run(cmd, mode: "enforce", confined: false, defaults: policy)
        XCTAssertTrue(enforced.rules.contains("escape.network"), "\(enforced.rules) \(enforced.stderr)", file: file, line: line)
        XCTAssertEqual(takeDatagrams(receiver), 0, "a datagram got out: \(enforced.stderr)", file: file, line: line)
        return enforced
    }

    /// An evasion-tier check of one technique that plants `path`: in monitor mode the
    /// finding `rule` (medium or higher) names `path`, the real effect; in enforce mode,
    /// with only the tracepoint guards (no Landlock), `path` is not there afterwards
    /// (killed at the act and undone). `script` runs in the workspace; `path` is removed
    /// after either run.
    func assertCaught(_ script: String, rule: String, path: String, env: [String: String] = [:],
                      file: StaticString = #filePath, line: UInt = #line) throws {
        cleanup.append(path)
        let watched = try run(script, mode: "monitor", confined: false, env: env)
        let f = watched.findings.first { $0["rule"] as? String == rule }
        XCTAssertNotNil(f, "monitor: no \(rule) in \(watched.rules): \(watched.stderr)", file: file, line: line)
        XCTAssertEqual(f?["path"] as? String, path, "monitor: the finding must name where it landed: \(f ?? [:])", file: file, line: line)
        XCTAssertTrue(["medium", "high", "critical"].contains(f?["severity"] as? String ?? ""), "\(f ?? [:])", file: file, line: line)
        try? FileManager.default.removeItem(atPath: path)
        let enforced = try run(script, mode: "enforce", confined: false, env: env)
        XCTAssertTrue(enforced.rules.contains(rule), "enforce: no \(rule) in \(enforced.rules): \(enforced.stderr)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "enforce: \(path) is in place: \(enforced.stderr)", file: file, line: line)
    }
}

/// Reads a pipe to its end on a thread of its own; calls `then` once the text holds `when`.
final class StderrReader: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle, when: String?, then: @escaping () -> Void) {
        Thread.detachNewThread { [self] in
            var fired = when == nil
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                data.append(chunk)
                if !fired, let w = when, String(decoding: data, as: UTF8.self).contains(w) {
                    fired = true
                    then()
                }
            }
            done.signal()
        }
    }

    /// Everything read, once the pipe's writers are gone.
    func finish() -> Data {
        done.wait()
        return data
    }
}
