import Foundation
import TetherControl
import TetherCore
import TetherExport
import TetherLedger
import XCTest

/// A real tetherd with a control socket of its own, a policy naming a copy of the test
/// driver as "the agent", and the real `tether` CLI to talk to it.
class DaemonTestCase: XCTestCase {
    var dir: String!
    var agent: String!
    var policy: String!
    var control: String { dir + "/c.sock" }
    var daemons: [Process] = []
    var pinDir: String?

    override func setUpWithError() throws {
        _ = try KernelHarness.shared()
        dir = try makeScratch(String(name.split(separator: " ").last?.prefix(20) ?? "ctl"))
        // a copy of the test driver is "the agent": the policy names its path
        agent = dir + "/agent"
        try FileManager.default.copyItem(atPath: KernelHarness.testops, toPath: agent)
        policy = dir + "/policy.yaml"
        try "agents:\n  - name: test-agent\n    match:\n      exe: [\"\(agent!)\"]\n".write(toFile: policy, atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        for d in daemons where d.isRunning { d.terminate(); d.waitUntilExit() }
        if let p = pinDir { try? FileManager.default.removeItem(atPath: p) }
        if let d = dir { try? FileManager.default.removeItem(atPath: d) }
    }

    @discardableResult
    func startDaemon(_ extra: [String] = [], pin: String = "", events: String? = nil) throws -> (Process, () -> String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.bin + "/tetherd")
        let eventsFile: String = events ?? dir + "/events.jsonl"
        p.arguments = ["--policy", policy, "--control", control, "--pin-dir", pin, "--status-interval", "0",
                       "--events", eventsFile, "--alerts-json", dir + "/alerts.jsonl", "--state-dir", dir + "/state"] + extra
        let logPath = dir + "/tetherd-\(daemons.count).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: logPath)
        try p.run()
        daemons.append(p)
        let log = { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        let deadline = Date().addingTimeInterval(20)
        while !log().contains("tetherd: ready") && Date() < deadline && p.isRunning { usleep(20_000) }
        XCTAssertTrue(log().contains("tetherd: ready"), "tetherd did not become ready: \(log())")
        return (p, log)
    }

    func tether(_ args: [String], prefix: [String] = []) throws -> CLITests.Result {
        let p = Process()
        // --socket right after the subcommand: `run` passes everything after `--` through
        let argv = prefix + [CLITests.bin + "/tether", args[0], "--socket", control] + args.dropFirst()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return CLITests.Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func sessionOf(_ pid: Int32) throws -> SessionID? {
        let r = try tether(["sessions", "--json"])
        let resp = try ControlCodec.decode(ControlResponse.self, r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        return resp.sessions?.first { $0.members.contains(pid) }.flatMap { SessionID($0.session) }
    }

    func members(_ s: SessionID) throws -> [Int32] {
        let r = try tether(["sessions", "--json"])
        let resp = try ControlCodec.decode(ControlResponse.self, r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        return resp.sessions?.first { $0.session == s.description }?.members ?? []
    }

    func state(_ pid: Int32) -> Character? {
        guard let t = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = t.lastIndex(of: ")") else { return nil }
        return t[t.index(close, offsetBy: 2)]
    }

    /// Runs argv to completion with output to files; returns status and output.
    /// A bpffs directory of the test's own for tetherd's pins, removed afterwards.
    func newPinDir() -> String {
        let pin = "/sys/fs/bpf/tether-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        pinDir = pin
        return pin
    }

    /// The alerts tetherd wrote so far (its --alerts-json file).
    func alerts() -> [AlertRecord] {
        ((try? String(contentsOfFile: dir + "/alerts.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { try? AlertJSON.decode(String($0)) }
    }

    func spawnAndWait(_ argv: [String]) throws -> CLITests.Result {
        let out = dir + "/spawn.out", err = dir + "/spawn.err"
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &fa, nil, cargs, environ)
        guard rc == 0 else { throw ControlError("spawning \(argv[0]): \(String(cString: strerror(rc)))") }
        var st: Int32 = 0
        waitpid(pid, &st, 0)
        let code: Int32 = (st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
        return CLITests.Result(status: code, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                               stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    func waitFor(_ timeout: TimeInterval, _ cond: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if cond() { return true }
            usleep(50_000)
        }
        return cond()
    }

    func tcpConnect(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else {
            close(fd)
            throw ControlError("connect 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    func httpGet(port: UInt16, path: String) throws -> String {
        let fd = try tcpConnect(port: port)
        defer { close(fd) }
        let req = Array("GET \(path) HTTP/1.0\r\nHost: localhost\r\n\r\n".utf8)
        _ = req.withUnsafeBytes { send(fd, $0.baseAddress!, req.count, 0) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// tetherd's control socket and metrics, driven through the real `tether` CLI, plus
/// sessions surviving a daemon crash through the pinned tracked map.
final class ControlTests: DaemonTestCase {
    func testStatusSessionsAlertsReloadAndMetrics() throws {
        let port = UInt16.random(in: 20000...60000)
        try startDaemon(["--metrics", "127.0.0.1:\(port)"])
        let a = Process()
        a.executableURL = URL(fileURLWithPath: agent)
        a.arguments = ["spawn", "/bin/sleep", "20", "--"]
        try a.run()
        var session: SessionID?
        XCTAssertTrue(waitFor(10) { session = try? self.sessionOf(a.processIdentifier); return session != nil })
        // the whole session goes at the end (Foundation's waitUntilExit would wait for the sleep too)
        defer { if let s = session { _ = try? tether(["kill", s.description]) }; a.waitUntilExit() }

        let list = try tether(["sessions"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains("\(session!)  test-agent"), list.stdout)
        XCTAssertEqual(try members(session!).count, 2, "the agent and its sleep")

        let st = try tether(["status"])
        XCTAssertEqual(st.status, 0, st.stderr)
        XCTAssertTrue(st.stdout.contains("sessions    1 (2 tracked process(es))"), st.stdout)
        XCTAssertTrue(st.stdout.contains("hooks attached"), st.stdout)
        XCTAssertTrue(st.stdout.contains("sink        json \(dir!)/alerts.jsonl: up"), st.stdout)

        // a follower sees alerts as they are raised
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: CLITests.bin + "/tether")
        follower.arguments = ["alerts", "--follow", "--json", "--socket", control]
        let fout = Pipe()
        follower.standardOutput = fout
        let printed = DispatchSemaphore(value: 0)
        let streamed = StderrReader(fout.fileHandleForReading, when: "\n") { printed.signal() }
        try follower.run()

        try "agents: [oops".write(toFile: policy, atomically: true, encoding: .utf8)
        let bad = try tether(["reload"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("reload rejected") && bad.stderr.contains(policy), bad.stderr)
        let alerts = try tether(["alerts"])
        XCTAssertTrue(alerts.stdout.contains("tether.policy_rejected"), alerts.stdout)
        // whether it connected before the rejection (streamed) or after (shown as recent)
        XCTAssertEqual(printed.wait(timeout: .now() + 30), .success, "the follower printed nothing")
        follower.terminate()
        follower.waitUntilExit()
        let text = String(decoding: streamed.finish(), as: UTF8.self)
        let rec = try XCTUnwrap(text.split(separator: "\n").first.map { try AlertJSON.decode(String($0)) }, text)
        XCTAssertEqual(rec.rule, "tether.policy_rejected")
        XCTAssertEqual(rec.path, policy)

        try "agents:\n  - name: renamed\n    match:\n      exe: [\"\(agent!)\"]\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let good = try tether(["reload"])
        XCTAssertEqual(good.status, 0, good.stderr)
        XCTAssertTrue(good.stdout.contains("policy reloaded"), good.stdout)

        let metrics = try httpGet(port: port, path: "/metrics")
        XCTAssertTrue(metrics.hasPrefix("HTTP/1.0 200"), metrics)
        XCTAssertTrue(metrics.contains("tether_findings_total{rule=\"tether.policy_rejected\"} 1\n"), metrics)
        XCTAssertTrue(metrics.contains("tether_policy_rejected_total 1\n"), metrics)
        XCTAssertTrue(metrics.contains("tether_policy_reloads_total 1\n"), metrics)
        XCTAssertTrue(metrics.contains("tether_sessions 1\n"), metrics)
        XCTAssertTrue(metrics.contains("tether_sink_dropped_total{sink=\"json \(dir!)/alerts.jsonl\"} 0\n"), metrics)
        XCTAssertTrue(try httpGet(port: port, path: "/other").hasPrefix("HTTP/1.0 404"))

        // clients that send a byte and then dawdle hold up nobody: a scrape is answered while
        // they are still connected (the server drops them only at their own deadline)
        let slow = try (0..<3).map { _ in try tcpConnect(port: port) }
        defer { for fd in slow { close(fd) } }
        for fd in slow { _ = send(fd, "G", 1, 0) }
        XCTAssertTrue(try httpGet(port: port, path: "/metrics").hasPrefix("HTTP/1.0 200"))
        for fd in slow {
            var b: UInt8 = 0
            XCTAssertEqual(recv(fd, &b, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)), -1, "a slow client was dropped before the scrape was answered")
        }
    }

    func testResumeAndKillReachEveryMemberOfTheSession() throws {
        try startDaemon()
        let a = Process()
        a.executableURL = URL(fileURLWithPath: agent)
        a.arguments = ["spawn", "/bin/sh", "-c", "sleep 30 & sleep 30 & wait", "--"]
        try a.run()
        var session: SessionID?
        XCTAssertTrue(waitFor(10) {
            session = try? self.sessionOf(a.processIdentifier)
            return session != nil && ((try? self.members(session!).count) ?? 0) == 4
        }, "agent, sh and two sleeps")
        let s = try XCTUnwrap(session)
        let pids = try members(s)
        for p in pids { kill(p, SIGSTOP) }
        XCTAssertTrue(waitFor(5) { pids.allSatisfy { self.state($0) == "T" } })

        let resumed = try tether(["resume", s.description])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("4 process(es) resumed"), resumed.stdout)
        XCTAssertTrue(waitFor(5) { pids.allSatisfy { self.state($0) != "T" } })

        let killed = try tether(["kill", s.description])
        XCTAssertEqual(killed.status, 0, killed.stderr)
        XCTAssertTrue(killed.stdout.contains("4 process(es) killed"), killed.stdout)
        a.waitUntilExit()
        XCTAssertEqual(a.terminationReason, .uncaughtSignal)
        XCTAssertTrue(waitFor(5) { (try? self.members(s).isEmpty) ?? false })

        let unknown = try tether(["kill", "0123456789abcdef"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("no live processes"), unknown.stderr)
        let garbage = try tether(["resume", "xyz"])
        XCTAssertTrue(garbage.stderr.contains("not a session id"), garbage.stderr)
    }

    /// A process the kernel cannot put in its session (tracked map full) runs unwatched:
    /// tetherd says so to every sink, as it does for lost events.
    /// tetherd proves its guards with canary sessions at start and on each reload, and the
    /// canaries are nobody's findings. A guard an attacker switched off (the egress hook's
    /// link detached with bpftool) is found at the next reload: said in `tether status` and
    /// the log, and raised as an alert.
    func testCanariesProveTheGuardsAndCatchOneSwitchedOff() throws {
        let pin = newPinDir()
        let (daemon, log) = try startDaemon([], pin: pin)
        let s = try tether(["status"])
        XCTAssertTrue(s.stdout.contains("guards      proven: write guard (cut off, 0 byte(s) landed), tamper guard (cut off), egress guard (refused (EPERM))"),
                      s.stdout + log())
        XCTAssertTrue(alerts().isEmpty, "the canaries raised: \(alerts())")

        let detach = try spawnAndWait(["/usr/sbin/bpftool", "link", "detach", "pinned", pin + "/link_guard_connect4"])
        XCTAssertEqual(detach.status, 0, detach.stderr)
        kill(daemon.processIdentifier, SIGHUP)
        XCTAssertTrue(waitFor(30) { log().contains("kernel guards NOT EFFECTIVE") }, log())
        XCTAssertTrue(log().contains("NOT EFFECTIVE: egress guard"), log())
        let s2 = try tether(["status"])
        XCTAssertTrue(s2.stdout.contains("guards      NOT EFFECTIVE: egress guard"), s2.stdout)
        XCTAssertFalse(s2.stdout.contains("write guard ("), "only the switched-off guard is named: \(s2.stdout)")
        XCTAssertTrue(waitFor(10) { self.alerts().contains { $0.rule == "tether.guard_ineffective" } }, "\(alerts())")
    }

    func testAFullTrackedMapIsRaised() throws {
        let pin = newPinDir()
        let (_, log) = try startDaemon([], pin: pin)
        // fill the pinned map with tgids no process has (past pid_max), 65,536 entries
        let pidMax = Int((try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 4_194_304
        let first = pidMax < 4_194_304 - 70_000 ? pidMax + 1 : 4_194_304 - 70_000
        var batch = ""
        for tgid in first..<(first + 65_536) {
            let k = withUnsafeBytes(of: UInt32(tgid).littleEndian) { $0.map { String($0) }.joined(separator: " ") }
            batch += "map update pinned \(pin)/tracked key \(k) value 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        }
        try batch.write(toFile: dir + "/fill.batch", atomically: true, encoding: .utf8)
        let fill = try spawnAndWait(["/usr/sbin/bpftool", "batch", "file", dir + "/fill.batch"])
        XCTAssertEqual(fill.status, 0, String(fill.stderr.suffix(500)))
        // the agent's exec would start a session: there is no room for it
        let a = Process()
        a.executableURL = URL(fileURLWithPath: agent)
        a.arguments = ["open", "/dev/null", "r"]
        try a.run()
        a.waitUntilExit()
        var found: AlertRecord?
        XCTAssertTrue(waitFor(10) {
            found = self.alerts().first { $0.rule == "tether.track_full" }
            return found != nil
        }, log())
        XCTAssertEqual(found?.severity, .high)
        XCTAssertTrue(found?.message.contains("run unwatched") ?? false, found?.message ?? "")
        XCTAssertTrue(log().contains("could not be tracked (tracked-process map full)"), log())
    }

    /// Hundreds of idle control connections cannot starve the daemon: past 64 at once the
    /// rest are refused, the descriptors the responder needs are left, and a violation in an
    /// enforce session is still contained and reported as such.
    func testIdleControlConnectionsCannotStopEnforcement() throws {
        try "agents:\n  - name: test-agent\n    mode: enforce\n    match:\n      exe: [\"\(agent!)\"]\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let (_, log) = try startDaemon()
        var idle: [ControlConnection] = []
        defer { for c in idle { c.close() } }
        for _ in 0..<300 { if let c = try? ControlClient.connect(path: control) { idle.append(c) } }
        XCTAssertEqual(idle.count, 300, "connecting is never refused; serving past the limit is")
        let a = Process()
        a.executableURL = URL(fileURLWithPath: agent)
        a.arguments = ["open", "/etc/shadow", "r", "sleep-ms", "100000"]
        try a.run()
        // SIGKILL: the session is stopped, and a stopped process never acts on SIGTERM
        defer { kill(a.processIdentifier, SIGKILL); a.waitUntilExit() }
        var found: AlertRecord?
        XCTAssertTrue(waitFor(15) {
            found = self.alerts().first { $0.rule == "escape.credentials" }
            return found != nil
        }, log())
        XCTAssertEqual(found?.enforced, true, "\(String(describing: found))")
        XCTAssertTrue(found?.outcome?.hasPrefix("session stopped (1 process(es) frozen") ?? false, found?.outcome ?? "")
        XCTAssertTrue(waitFor(5) { self.state(a.processIdentifier) == "T" })
        for c in idle { c.close() }
        idle = []
        XCTAssertTrue(waitFor(10) { (try? self.tether(["status"]))?.status == 0 }, "control answers again once the idle clients are gone")
    }

    func testRefusesNonRootClientsAndAgentSessionMembers() throws {
        let (_, log) = try startDaemon()
        // the socket file is root's only: a plain user cannot even connect
        let plain = try tether(["status"], prefix: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        XCTAssertEqual(plain.status, 69)
        XCTAssertTrue(plain.stderr.contains("Permission denied") && plain.stderr.contains("root"), plain.stderr)
        // past the file mode (CAP_DAC_OVERRIDE), the daemon checks the peer's credentials itself
        let sneaky = try tether(["status"], prefix: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                                     "--inh-caps=+dac_override", "--ambient-caps=+dac_override"])
        XCTAssertEqual(sneaky.status, 77, sneaky.stderr)
        XCTAssertTrue(sneaky.stderr.contains("refused: the tetherd control socket answers root only (you are uid 65534)"), sneaky.stderr)
        // root, but inside a watched agent's session: refused too
        let member = try tether(["kill", "0123456789abcdef"], prefix: [agent, "exec"])
        XCTAssertEqual(member.status, 77, member.stderr)
        XCTAssertTrue(member.stderr.contains("belongs to the watched agent session"), member.stderr)
        XCTAssertTrue(log().contains("control: refused uid 65534"), log())
        // the socket is 0600 root
        var st = stat()
        XCTAssertEqual(stat(control, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(st.st_uid, 0)
    }

    /// A crash must not free an agent: the tracked map is pinned in bpffs, so after a restart
    /// the same session, including descendants no policy selector names, is still followed.
    func testSessionsSurviveADaemonCrashThroughThePinnedMap() throws {
        let pin = newPinDir()
        let (first, _) = try startDaemon([], pin: pin)
        // the agent leaves a detached grandchild behind and exits
        let marker = dir + "/late-open", gate = dir + "/go"
        // posix_spawn + waitpid: Foundation's Process may wait on the grandchild too; the
        // grandchild opens the marker once the test, after the restart, says so
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(agent), strdup("daemonize-until"), strdup(marker), strdup(gate), nil]
        defer { for a in argv { free(a) } }
        var root: pid_t = 0
        XCTAssertEqual(posix_spawn(&root, agent, nil, nil, argv, environ), 0)
        var status: Int32 = 0
        waitpid(root, &status, 0)
        var session: SessionID?
        XCTAssertTrue(waitFor(5) {
            let evs = (try? EventJSON.decodeLines((try? String(contentsOfFile: self.dir + "/events.jsonl", encoding: .utf8)) ?? "")) ?? []
            session = evs.first { $0.kind == .exec && $0.sessionStart && $0.pid == root }?.session
            return session != nil
        })
        let s = try XCTUnwrap(session)
        let listing = try tether(["sessions", "--json"]).stdout
        XCTAssertEqual(try members(s).count, 1, "only the sleeping grandchild is left: \(listing)")

        kill(first.processIdentifier, SIGKILL) // a crash: no clean shutdown
        first.waitUntilExit()
        let (_, log2) = try startDaemon([], pin: pin)
        XCTAssertTrue(log2().contains("tracked again after restart"), log2())
        XCTAssertEqual(try members(s).count, 1, "the session is still tracked after the crash")
        FileManager.default.createFile(atPath: gate, contents: nil)
        XCTAssertTrue(waitFor(10) {
            let evs = (try? EventJSON.decodeLines((try? String(contentsOfFile: self.dir + "/events.jsonl", encoding: .utf8)) ?? "")) ?? []
            return evs.contains { $0.kind == .open && $0.path == marker && $0.session == s }
        }, "the grandchild's open after the restart arrives under its old session")
    }

    /// Reloads while an agent works: every one of its events arrives, in order, under its
    /// session. The agent works in batches, each started by the test right before a reload,
    /// so every reload meets work in flight however fast or slow the machine is.
    func testNoEventIsLostAcrossReloads() throws {
        try startDaemon()
        let out = dir + "/files"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let batches = 20, perBatch = 30
        let a = Process()
        a.executableURL = URL(fileURLWithPath: agent)
        a.arguments = ["exec", "/bin/sh", "-c", """
            i=0; b=0
            while [ $b -lt \(batches) ]; do
              while [ ! -e \(out)/go$b ]; do sleep 0.01; done
              j=0; while [ $j -lt \(perBatch) ]; do : > \(out)/f$i; i=$((i+1)); j=$((j+1)); done
              b=$((b+1))
            done
            """, "--"]
        try a.run()
        for b in 0..<batches {
            FileManager.default.createFile(atPath: out + "/go\(b)", contents: nil)
            let r = try tether(["reload"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        a.waitUntilExit()
        var opened: [Int] = []
        XCTAssertTrue(waitFor(10) {
            let evs = (try? EventJSON.decodeLines((try? String(contentsOfFile: self.dir + "/events.jsonl", encoding: .utf8)) ?? "")) ?? []
            opened = evs.filter { $0.kind == .open && ($0.path ?? "").hasPrefix(out + "/f") }.compactMap { Int($0.path!.dropFirst(out.count + 2)) }
            return opened.count >= batches * perBatch
        })
        XCTAssertEqual(opened, Array(0..<(batches * perBatch)), "\(batches) reloads during the run")
        let st = try tether(["status"])
        XCTAssertTrue(st.stdout.contains(", 0 lost, 0 corrupt"), st.stdout)
        XCTAssertTrue(st.stdout.contains("\(batches) reload(s), 0 rejected"), st.stdout)
    }

    /// A selector both the old and the new policy have is never absent from the kernel's
    /// maps during a reload: every exec of the agent starts a session, reload after reload.
    /// The agent runs in a loop until the test has done its reloads, and each reload waits
    /// for at least one more run first: the count of reloads does not depend on speed.
    func testASelectorKeptByAReloadNeverMissesAnExec() throws {
        try startDaemon()
        // each reload also adds and drops another selector, so the maps really change
        let other = dir + "/other.yaml"
        try "agents:\n  - name: test-agent\n    match:\n      exe: [\"\(agent!)\"]\n  - name: extra\n    match:\n      comm: [\"not-running-x\"]\n".write(toFile: other, atomically: true, encoding: .utf8)
        let original = try String(contentsOfFile: policy, encoding: .utf8)
        let stop = dir + "/stop", runs = dir + "/runs"
        let loop = Process()
        loop.executableURL = URL(fileURLWithPath: "/bin/sh")
        loop.arguments = ["-c", "while [ ! -e \(stop) ]; do \(agent!) open /dev/null r; echo >> \(runs); done"]
        try loop.run()
        func runsSoFar() -> Int { ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").filter { $0 == "\n" }.count }
        let reloads = 8
        for i in 0..<reloads {
            let before = runsSoFar()
            XCTAssertTrue(waitFor(20) { runsSoFar() > before }, "the agent loop stopped running")
            try (i % 2 == 0 ? String(contentsOfFile: other, encoding: .utf8) : original).write(toFile: policy, atomically: true, encoding: .utf8)
            XCTAssertEqual(try tether(["reload"]).status, 0)
        }
        FileManager.default.createFile(atPath: stop, contents: nil)
        loop.waitUntilExit()
        let total = runsSoFar()
        var starts = 0
        XCTAssertTrue(waitFor(10) {
            let evs = (try? EventJSON.decodeLines((try? String(contentsOfFile: self.dir + "/events.jsonl", encoding: .utf8)) ?? "")) ?? []
            starts = evs.filter { $0.kind == .exec && $0.sessionStart && $0.path == self.agent }.count
            return starts >= total
        })
        XCTAssertEqual(starts, total, "execs of the agent that started no session across \(reloads) reloads")
    }

    /// With a daemon running, `tether run` hands the session over instead of loading probes,
    /// and gets the session's events streamed back.
    func testRunRegistersItsSessionWithTheRunningDaemon() throws {
        let (_, log) = try startDaemon()
        let events = dir + "/run-events.jsonl"
        // posix_spawn, not Process: Foundation would also wait for the leftover sleep
        let r = try spawnAndWait([CLITests.bin + "/tether", "run", "--socket", control, "--events", events, "--",
                                  "/bin/sh", "-c", "echo hi > \(dir!)/out; sleep 30 & exit 3"])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(log().contains("registered by tether run"), log())
        let evs = try EventJSON.decodeLines(String(contentsOfFile: events, encoding: .utf8))
        XCTAssertEqual(Set(evs.map(\.session)).count, 1)
        XCTAssertEqual(evs.first?.kind, .exec)
        XCTAssertTrue(evs.contains { $0.kind == .open && $0.path == dir + "/out" })
        XCTAssertTrue(evs.contains { $0.kind == .exit && $0.exitCode == 3 })
        XCTAssertTrue(r.stderr.contains("1 process(es) still running after the command exited"), r.stderr)
        let s = try XCTUnwrap(evs.first?.session)
        XCTAssertEqual(try members(s).count, 1, "the daemon keeps following the leftover sleep")
        let k = try tether(["kill", s.description])
        XCTAssertTrue(k.stdout.contains("1 process(es) killed"), k.stdout + k.stderr)
        // --standalone loads probes here as before
        let alone = try tether(["run", "--standalone", "--", "/bin/true"])
        XCTAssertEqual(alone.status, 0, alone.stderr)
        XCTAssertEqual(log().components(separatedBy: "registered by tether run").count, 2)
    }

    /// `tetherd --events FILE,format=ocsf`, and `tether run --events FILE,format=ocsf` through
    /// the daemon (whose stream is Tether's own lines, re-encoded by the client): both files
    /// valid OCSF, each naming the file the session wrote.
    func testTheDaemonAndARunThroughItWriteOCSFEvents() throws {
        let daemonEvents = dir + "/daemon.ocsf.jsonl", runEvents = dir + "/run.ocsf.jsonl", written = dir + "/out"
        let (_, log) = try startDaemon(events: daemonEvents + ",format=ocsf")
        let r = try spawnAndWait([CLITests.bin + "/tether", "run", "--socket", control, "--events", runEvents + ",format=ocsf", "--",
                                  "/bin/sh", "-c", "echo hi > \(written)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(log().contains("registered by tether run"), log())
        func names(_ file: String) -> Bool {
            ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").contains {
                $0.contains("\"class_uid\":1001") && $0.contains("\"path\":\"\(written)\"")
            }
        }
        XCTAssertTrue(names(runEvents), (try? String(contentsOfFile: runEvents, encoding: .utf8)) ?? "no \(runEvents)")
        XCTAssertTrue(waitFor(10) { names(daemonEvents) }, "the daemon's events file (flushed by its loop): \(log())")
        for file in [runEvents, daemonEvents] {
            let v = try CLITests.validateOCSF(file)
            XCTAssertGreaterThan(CLITests.validCount(v) ?? 0, 0, "\(file): \(v.stdout)")
        }
        XCTAssertFalse(r.stderr.contains("did not decode"), r.stderr)
    }

    /// tetherd keeps a ledger of each session: the session-end alert carries its head to the
    /// sinks, `tether report` reads it, `tether sessions` lists the session once it ended.
    func testTheDaemonKeepsALedgerAndItsHeadGoesToTheSinks() throws {
        let (_, log) = try startDaemon()
        let outside = "/tmp/tether-test-daemon-ledger-\(getpid())"
        defer { unlink(outside) }
        let r = try spawnAndWait([CLITests.bin + "/tether", "run", "--socket", control, "--", "/bin/sh", "-c", "echo x > \(outside)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        var ended: AlertRecord?
        XCTAssertTrue(waitFor(20) {
            ended = self.alerts().first { $0.rule == "tether.session_ended" }
            return ended != nil
        }, "no session-end alert: \(log())")
        let head = try XCTUnwrap(ended?.details["ledger_head"])
        let session = try XCTUnwrap(ended?.session)
        let state = dir + "/state"
        XCTAssertTrue(waitFor(20) { LedgerStore.list(LedgerStore.directory(state: state)).first?.ended != nil }, "the ledger was not closed")
        let v = try CLITests.invoke(["report", "--verify", "--head", head, "--state-dir", state, session])
        XCTAssertEqual(v.status, 0, v.stdout + v.stderr)
        let report = try CLITests.invoke(["report", session, "--state-dir", state])
        XCTAssertTrue(report.stdout.contains("create \(outside)") || report.stdout.contains("truncate \(outside)"), report.stdout)
        XCTAssertTrue(report.stdout.contains("file \(outside)"), "left behind: \(report.stdout)")
        let list = try tether(["sessions", "--state-dir", state])
        XCTAssertTrue(list.stdout.contains("ENDED SESSION") && list.stdout.contains(session), list.stdout)

        // A session that writes to the ledgers (its own among them) is cut off by the tamper
        // guard before a byte lands: every ledger still verifies.
        let evil = try spawnAndWait([CLITests.bin + "/tether", "run", "--socket", control, "--mode", "enforce", "--", "/bin/sh", "-c",
                                     "for f in \(state)/sessions/*/ledger.jsonl; do echo forged >> $f; done"])
        XCTAssertNotEqual(evil.status, 0, evil.stderr)
        XCTAssertTrue(waitFor(20) { self.alerts().contains { $0.rule == "escape.tamper" } }, "no tamper finding: \(log())")
        let ledgers = LedgerStore.list(LedgerStore.directory(state: state))
        XCTAssertEqual(ledgers.count, 2, "both ledgers are where they were")
        for s in ledgers {
            XCTAssertTrue(try Ledger.read(s.path).verification.ok, "\(s.path) was changed")
            // (its own ledger names the command, "forged" in its argv: no line is the forgery)
            XCTAssertFalse(try String(contentsOfFile: s.path, encoding: .utf8).split(separator: "\n").contains("forged"), s.path)
        }
    }

    /// A confined session handed to the daemon is held at a refusal until the daemon has
    /// told it why: the reason is on the tool's stderr (a pipe, as an agent's tool output
    /// is; a file is never written to) before the tool's own error.
    func testTheDaemonTellsAConfinedSessionWhyBeforeItGoesOn() throws {
        let (_, log) = try startDaemon()
        let target = "/etc/cron.d/tether-test-daemon-tell-\(getpid())"
        defer { unlink(target) }
        let r = try spawnAndWait([CLITests.bin + "/tether", "run", "--socket", control, "--mode", "enforce", "--workspace", dir, "--",
                                  "/bin/sh", "-c", "cd \(dir!) && echo job > j && mv j \(target) 2>&1 | cat"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(log().contains("registered by tether run"), log())
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let told = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("tether: persist.cron") && $0.contains("refused by the kernel") }, r.stdout)
        let own = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("mv: ") }, r.stdout)
        XCTAssertLessThan(told, own, r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))
    }
}
