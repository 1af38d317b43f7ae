import Foundation
import TetherControl
import TetherCore
import TetherLedger
import XCTest

/// The fuzz tier: generated and mutated policies, event files and control requests, fed to
/// the real binaries. A crash (death by a signal), a hang (past a deadline far above any
/// honest run), or an error that does not say where fails. Bounded by the number of cases,
/// from a fixed seed, so every run tries the same inputs; the corpus starts with the
/// inputs that once crashed or hung Tether.
final class FuzzTests: XCTestCase {
    var dir: String!
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    override func setUpWithError() throws {
        _ = try KernelHarness.shared()
        dir = try makeScratch(name)
    }

    override func tearDownWithError() throws {
        if let d = dir { try? FileManager.default.removeItem(atPath: d) }
    }

    /// A small deterministic generator (SplitMix64).
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
    }

    struct Outcome { var status: Int32; var signal: Int32?; var stderr: String; var stdout: String }

    /// Runs a binary to its end; a hang past `deadline` is killed and fails the case.
    func run(_ argv: [String], stdin: Data? = nil, deadline: TimeInterval = 60, _ what: String) throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let out = dir + "/out", err = dir + "/err"
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: out)
        p.standardError = FileHandle(forWritingAtPath: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let end = Date().addingTimeInterval(deadline)
        while p.isRunning && Date() < end { usleep(5_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTFail("\(what): still running after \(Int(deadline)) s (a hang)")
        } else {
            p.waitUntilExit()
        }
        let sig: Int32? = p.terminationReason == .uncaughtSignal ? p.terminationStatus : nil
        return Outcome(status: p.terminationStatus, signal: sig, stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "",
                       stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    // MARK: policies

    /// Inputs that crashed, hung or flooded `check-policy` and tetherd once.
    func policyCorpus() -> [(String, Data)] {
        var laughs = "version: 1\nx0: &x0 [a, a, a, a, a, a, a, a, a, a]\n"
        for i in 1..<9 { laughs += "x\(i): &x\(i) [" + Array(repeating: "*x\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let big = "version: 1\nagents:\n" + (0..<3000).map { "  - name: a\($0)\n    match: {comm: [c\($0)]}\n    bogus_key_\($0): 1\n" }.joined()
        return [
            ("deep flow nesting", Data(("version: 1\nagents: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n").utf8)),
            ("deep block nesting", Data(("version: 1\nagents:\n" + String(repeating: "- ", count: 3000) + "x\n").utf8)),
            ("alias expansion", Data(laughs.utf8)),
            ("grace 1e11", Data("version: 1\ndefaults:\n  grace_period: 1e11\n".utf8)),
            ("grace 1e19", Data("version: 1\ndefaults:\n  grace_period: 1e19\n".utf8)),
            ("term_grace 1e300h", Data("version: 1\ndefaults:\n  term_grace: 1e300h\n".utf8)),
            ("uid 2^64", Data("version: 1\nagents:\n  - name: a\n    match: {uid: [18446744073709551616]}\n".utf8)),
            ("invalid UTF-8", Data("version: 1\nagents:\n  - name: caf".utf8) + Data([0xC3, 0x28]) + Data("\n    match: {comm: [x]}\n".utf8)),
            ("thousands of errors", Data(big.utf8)),
            ("empty", Data()),
            ("binary", Data((0..<512).map { UInt8(truncatingIfNeeded: $0 &* 37) })),
        ]
    }

    /// A mutation of `text`: a byte flipped, a line deleted, doubled, swapped or re-indented,
    /// YAML punctuation inserted, or the file cut short.
    func mutate(_ text: String, _ rng: inout Rng) -> Data {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let punct = ["[", "]", "{", "}", ":", "- ", "&a ", "*a", "\"", "'", "#", "\t", "!!str ", "? ", "|", ">", "~", "1e400", "-1", "0x1p99"]
        for _ in 0..<(1 + rng.below(3)) {
            guard !lines.isEmpty else { break }
            let i = rng.below(lines.count)
            switch rng.below(7) {
            case 0: lines.remove(at: i)
            case 1: lines.insert(lines[i], at: i)
            case 2: lines.swapAt(i, rng.below(lines.count))
            case 3: lines[i] = String(repeating: " ", count: rng.below(12)) + lines[i].trimmingCharacters(in: .whitespaces)
            case 4:
                var l = Array(lines[i])
                l.insert(contentsOf: Array(punct[rng.below(punct.count)]), at: rng.below(l.count + 1))
                lines[i] = String(l)
            case 5:
                if let r = lines[i].range(of: #"[0-9]+"#, options: .regularExpression) { lines[i].replaceSubrange(r, with: punct[17 + rng.below(3)]) }
            default: lines = Array(lines.prefix(i))
            }
        }
        var bytes = Array(lines.joined(separator: "\n").utf8)
        if rng.below(8) == 0, !bytes.isEmpty { bytes[rng.below(bytes.count)] ^= UInt8(1 << rng.below(8)) }
        return Data(bytes)
    }

    /// Every error line names its place: FILE:LINE:COLUMN, or FILE: for a fact about the
    /// whole file (it cannot be read, N more errors, the summary).
    func checkErrorsHaveLocations(_ stderr: String, file: String, _ what: String) {
        XCTAssertLessThan(stderr.utf8.count, 64 << 10, "\(what): \(stderr.utf8.count) bytes of errors")
        for line in stderr.split(separator: "\n") {
            let l = String(line)
            if l.hasPrefix(file + ": warning: ") { continue }
            let located = l.range(of: "^" + NSRegularExpression.escapedPattern(for: file) + #":[0-9]+:[0-9]+: "#, options: .regularExpression) != nil
            let whole = l.hasPrefix(file + ": ") && (l.contains("error(s) not shown") || l.contains("would not be loaded") || l.contains("cannot read the policy"))
            XCTAssertTrue(located || whole, "\(what): an error without a location: \(l)")
        }
    }

    func testPoliciesNeverCrashHangOrLoseTheirLocation() throws {
        let seed = try String(contentsOf: FuzzTests.root.appendingPathComponent("systemd/policy.yaml"), encoding: .utf8)
        var rng = Rng(state: 0x7e7e_7e7e)
        var cases = policyCorpus()
        for i in 0..<150 { cases.append(("mutation \(i)", mutate(seed, &rng))) }
        let file = dir + "/policy.yaml"
        var rejected = 0
        for (what, data) in cases {
            try data.write(to: URL(fileURLWithPath: file))
            let r = try run([CLITests.bin + "/tether", "check-policy", file], what)
            XCTAssertNil(r.signal, "\(what): check-policy died of signal \(r.signal ?? 0): \(r.stderr.prefix(500))")
            XCTAssertTrue(r.status == 0 || r.status == 1, "\(what): exit status \(r.status): \(r.stderr.prefix(500))")
            if r.status == 1 { rejected += 1 }
            checkErrorsHaveLocations(r.stderr, file: file, what)
        }
        XCTAssertGreaterThan(rejected, cases.count / 4, "the mutations reach the error paths")
        // the corpus, as tetherd reads it at start: a clean refusal with the place, never a crash
        for (what, data) in policyCorpus() {
            try data.write(to: URL(fileURLWithPath: file))
            let r = try run([CLITests.bin + "/tetherd", "--policy", file, "--control", "", "--pin-dir", ""], "tetherd: \(what)")
            XCTAssertNil(r.signal, "tetherd, \(what): died of signal \(r.signal ?? 0)")
            XCTAssertEqual(r.status, 78, "tetherd, \(what): \(r.stderr.prefix(300))")
            XCTAssertTrue(r.stderr.contains(file + ":"), "tetherd, \(what): \(r.stderr.prefix(300))")
        }
    }

    // MARK: recorded events

    static let recording = """
    {"kind":"exec","time":1000000000,"pid":4000,"tid":4000,"ppid":3999,"session":"00000000000a11ce","root":4000,"agent":"default","enforcement":"monitor","comm":"bash","result":0,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"path":"/usr/bin/bash","argv":["bash","-c","x"],"cwd":"/home/dev/proj","session_start":true}
    {"kind":"open","time":1001000000,"pid":4000,"tid":4000,"ppid":3999,"session":"00000000000a11ce","comm":"bash","result":3,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"path":"/etc/cron.d/job","flags":["write","create","truncate"],"raw_flags":577,"mode":"644"}
    {"kind":"fork","time":1002000000,"pid":4000,"tid":4000,"ppid":3999,"session":"00000000000a11ce","comm":"bash","result":4001,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"target":4001}
    {"kind":"connect","time":1004000000,"pid":4001,"tid":4001,"ppid":4000,"session":"00000000000a11ce","comm":"curl","result":-115,"error":"EINPROGRESS","uid":1000,"euid":1000,"gid":1000,"egid":1000,"family":"inet","addr":"203.0.113.7","port":443}
    {"kind":"kill","time":1005000000,"pid":4001,"tid":4001,"ppid":4000,"session":"00000000000a11ce","comm":"curl","result":0,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"target":1,"signal":9,"via":"kill"}
    {"kind":"exit","time":1012000000,"pid":4000,"tid":4000,"ppid":3999,"session":"00000000000a11ce","comm":"bash","result":0,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"exit_code":0}
    """

    func mutateEvents(_ text: String, _ rng: inout Rng) -> Data {
        var lines = text.split(separator: "\n").map(String.init)
        let values = ["4294967296", "-4294967297", "1e30", "-1", "1.5", "true", "null", "\"x\"", "[]", "{}", "18446744073709551616",
                      "9223372036854775808", "-9223372036854775809", "\"ffffffffffffffffff\"", "0"]
        for _ in 0..<(1 + rng.below(3)) {
            let i = rng.below(lines.count)
            switch rng.below(5) {
            case 0: // a number field gets an extreme or a wrong type
                let re = try! NSRegularExpression(pattern: #""([a-z_]+)":(-?[0-9]+)"#)
                let ns = lines[i] as NSString
                let fields = re.matches(in: lines[i], range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range(at: 1)) }
                if !fields.isEmpty {
                    let f = fields[rng.below(fields.count)]
                    lines[i] = lines[i].replacingOccurrences(of: #""\#(f)":"#, with: #""\#(f)":\#(values[rng.below(values.count)])"# + ",\"_was\":")
                }
            case 1: lines[i] = String(lines[i].prefix(rng.below(lines[i].count + 1)))
            case 2: lines[i] = lines[i].replacingOccurrences(of: "\"kind\":\"\(["exec", "open", "fork", "connect", "kill", "exit"][rng.below(6)])\"",
                                                               with: "\"kind\":\"\(EventKind.allCases[rng.below(EventKind.allCases.count)].rawValue)\"")
            case 3: lines.insert(lines[i], at: i)
            default: lines[i] = lines[i].replacingOccurrences(of: "\"session\":\"00000000000a11ce\"", with: "\"session\":\(values[rng.below(values.count)])")
            }
        }
        return Data((lines.joined(separator: rng.below(4) == 0 ? "\r\n" : "\n") + "\n").utf8)
    }

    func testRecordedEventsNeverCrashOrHangReplay() throws {
        var rng = Rng(state: 0xe7e7)
        var cases: [(String, Data)] = [
            ("pid past Int32", Data(#"{"kind":"exec","time":1,"pid":4294967296,"session":"0000000000000001","result":0}"#.utf8)),
            ("time 1e30", Data(#"{"kind":"exec","time":1e30,"pid":1,"session":"0000000000000001","result":0}"#.utf8)),
            ("CRLF lines", Data(FuzzTests.recording.replacingOccurrences(of: "\n", with: "\r\n").utf8)),
        ]
        for i in 0..<150 { cases.append(("mutation \(i)", mutateEvents(FuzzTests.recording, &rng))) }
        let file = dir + "/events.jsonl"
        for (what, data) in cases {
            try data.write(to: URL(fileURLWithPath: file))
            let r = try run([CLITests.bin + "/tether", "replay", "--policy", FuzzTests.root.appendingPathComponent("systemd/policy.yaml").path, file], what)
            XCTAssertNil(r.signal, "\(what): replay died of signal \(r.signal ?? 0): \(r.stderr.prefix(300))")
            XCTAssertTrue(r.status == 0 || r.status == 65, "\(what): exit status \(r.status): \(r.stderr.prefix(300))")
            if r.status == 65 {
                XCTAssertNotNil(r.stderr.range(of: "^" + NSRegularExpression.escapedPattern(for: file) + #":[0-9]+: "#, options: .regularExpression),
                                "\(what): the bad line is not named: \(r.stderr.prefix(300))")
            }
        }
        // CRLF reads as the same events as LF
        try Data(FuzzTests.recording.replacingOccurrences(of: "\n", with: "\r\n").utf8).write(to: URL(fileURLWithPath: file))
        let crlf = try run([CLITests.bin + "/tether", "replay", file], "CRLF")
        XCTAssertEqual(crlf.status, 0, crlf.stderr)
        XCTAssertTrue(crlf.stderr.contains("6 events, 1 session"), crlf.stderr)
    }

    // MARK: ledgers and transcripts

    /// A real session's ledger, then mutated (fields given extremes and wrong types, lines cut,
    /// doubled, bytes flipped) through `tether report`, `--json`, `--html` and `--verify`, with
    /// a mutated transcript too: never a crash or a hang; an altered ledger is said (exit 1).
    func testCorruptLedgersAndTranscriptsNeverCrashOrHangTheReport() throws {
        let state = dir + "/state", outside = dir + "-outside"
        defer { unlink(outside) }
        let made = try run([CLITests.bin + "/tether", "run", "--standalone", "--state-dir", state, "--workspace", dir, "--",
                            "/bin/sh", "-c", "cd \(dir!) || exit 1; echo x > \(outside); mkdir -p sub; echo y > sub/f; cat /etc/shadow > /dev/null"], "a real session")
        XCTAssertEqual(made.status, 0, made.stderr)
        let path = try XCTUnwrap(LedgerStore.list(LedgerStore.directory(state: state)).first?.path, made.stderr)
        let original = try String(contentsOfFile: path, encoding: .utf8)
        let transcript = dir + "/calls.jsonl"
        let calls = "{\"command\":\"echo x > \(outside)\",\"time\":\"2026-12-02T00:00:00Z\"}\n{\"file\":\"sub/f\",\"tool\":\"write\"}\n"
        var rng = Rng(state: 0x1ed9e7)
        var cases: [(String, Data)] = [("empty", Data()), ("one newline", Data("\n".utf8)), ("binary", Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131) }))]
        for i in 0..<60 { cases.append(("mutation \(i)", mutateEvents(original, &rng))) }
        for (what, data) in cases {
            try data.write(to: URL(fileURLWithPath: path))
            try mutateEvents(calls, &rng).write(to: URL(fileURLWithPath: transcript))
            for extra in [[], ["--json"], ["--html", dir + "/r.html"], ["--verify"], ["--transcript", transcript], ["--transcript", transcript, "--json"]] {
                let r = try run([CLITests.bin + "/tether", "report", "--last", "--state-dir", state] + extra, "\(what) \(extra)")
                XCTAssertNil(r.signal, "\(what) \(extra): report died of signal \(r.signal ?? 0): \(r.stderr.prefix(300))")
                XCTAssertTrue([0, 1, 65, 66].contains(r.status), "\(what) \(extra): exit status \(r.status): \(r.stderr.prefix(300))")
            }
        }
        // and the untouched ledger verifies
        try original.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try run([CLITests.bin + "/tether", "report", "--last", "--verify", "--state-dir", state], "intact").status, 0)
    }

    // MARK: control requests

    func testControlRequestsNeverCrashOrHangTheDaemon() throws {
        let control = dir + "/c.sock"
        let policy = dir + "/p.yaml"
        try "version: 1\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let d = Process()
        d.executableURL = URL(fileURLWithPath: CLITests.bin + "/tetherd")
        d.arguments = ["--policy", policy, "--control", control, "--pin-dir", "", "--status-interval", "0"]
        let logPath = dir + "/tetherd.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        d.standardError = FileHandle(forWritingAtPath: logPath)
        try d.run()
        defer { if d.isRunning { d.terminate(); d.waitUntilExit() } }
        let log = { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        let end = Date().addingTimeInterval(30)
        while !log().contains("tetherd: ready") && Date() < end && d.isRunning { usleep(20_000) }
        XCTAssertTrue(log().contains("tetherd: ready"), log())

        var rng = Rng(state: 0xc0c0)
        let commands = ["status", "sessions", "alerts", "resume", "kill", "reload", "register", "nope", ""]
        let values = ["null", "-1", "4294967296", "1e30", "\"\"", "\"zzzzzzzzzzzzzzzz\"", "[]", "{}", "true", "\"0123456789abcdef\""]
        var requests: [String] = ["", "{", "[]", "null", String(repeating: "x", count: 300_000), "{\"command\":\"status\"}{\"command\":\"status\"}"]
        for _ in 0..<120 {
            var fields = ["\"command\":\"\(commands[rng.below(commands.count)])\""]
            for key in ["session", "limit", "follow", "pid", "label", "mode"] where rng.below(3) == 0 {
                fields.append("\"\(key)\":\(values[rng.below(values.count)])")
            }
            requests.append("{" + fields.shuffled(using: &rng).joined(separator: ",") + "}")
        }
        for (i, req) in requests.enumerated() {
            guard let c = try? ControlClient.connect(path: control) else {
                XCTFail("request \(i): the daemon stopped accepting (\(req.prefix(80))): \(log().suffix(500))")
                break
            }
            c.send(req)
            // every request gets an answer line, or the connection ends (a follower, a register
            // that waits): never a daemon that stops
            _ = c.readLine(maxBytes: 1 << 20)
            c.close()
            XCTAssertTrue(d.isRunning, "request \(i) killed tetherd: \(req.prefix(200))")
            if !d.isRunning { break }
        }
        let status = try ControlClient.call(ControlRequest(command: .status), path: control)
        XCTAssertTrue(status.ok, "\(status)")
        XCTAssertTrue(d.isRunning)
    }
}

extension FuzzTests.Rng: RandomNumberGenerator {}
