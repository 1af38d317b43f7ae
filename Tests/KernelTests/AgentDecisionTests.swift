import Foundation
import TetherControl
import TetherCore
import TetherExport
import XCTest

/// One truth per session: the kernel decides a session's agent once, and the guards, the
/// alerts, `tether sessions` and the events all say that agent, through overlapping
/// selectors, reloads and restarts.
final class AgentDecisionTests: DaemonTestCase {
    /// A copy of bash under `name` in the scratch directory: its exe path and its comm.
    func bash(_ name: String) throws -> String {
        let path = dir + "/" + name
        try FileManager.default.copyItem(atPath: "/bin/bash", toPath: path)
        return path
    }

    /// `tether ARGS` with no control socket added.
    func plainTether(_ args: [String]) throws -> CLITests.Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.bin + "/tether")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return CLITests.Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Starts `agent -c SCRIPT` (a copy of bash, so the daemon's policy selects it) and
    /// returns it with the session the daemon put it in.
    func startAgent(_ agent: String, _ script: String, log: () -> String) throws -> (Process, SessionID) {
        let a = Process()
        a.executableURL = URL(fileURLWithPath: agent)
        a.arguments = ["-c", script]
        try a.run()
        var sid: SessionID?
        XCTAssertTrue(waitFor(10) { sid = try? self.sessionOf(a.processIdentifier); return sid != nil }, log())
        return (a, try XCTUnwrap(sid))
    }

    /// The first alert of `rule` for session `s`, once it has been written.
    func alert(_ rule: String, _ s: SessionID, log: () -> String) throws -> AlertRecord {
        var found: AlertRecord?
        XCTAssertTrue(waitFor(10) { found = self.alerts().first { $0.rule == rule && $0.session == s.description }; return found != nil },
                      "no \(rule) alert: \(log())")
        return try XCTUnwrap(found)
    }

    func events() -> [Event] {
        (try? EventJSON.decodeLines((try? String(contentsOfFile: dir + "/events.jsonl", encoding: .utf8)) ?? "")) ?? []
    }

    func session(_ id: SessionID) throws -> SessionInfo? {
        let r = try tether(["sessions", "--json"])
        return try ControlCodec.decode(ControlResponse.self, r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            .sessions?.first { $0.session == id.description }
    }

    /// Agent A selects the executable, agent B its command name: both match one process.
    /// The executable is the more specific selector, so the kernel gives the session to A,
    /// in A's mode, and so does everything else. In enforce mode (A enforce, B monitor) the
    /// cron job is cut off before its content lands; with the modes swapped it lands, and
    /// the alert says it was not enforced.
    func testOverlappingSelectorsGiveTheSessionToTheKernelsChoiceEverywhere() throws {
        let agentA = try bash("agentA")
        for (aMode, bMode) in [("enforce", "monitor"), ("monitor", "enforce")] {
            try """
            agents:
              - name: A
                mode: \(aMode)
                match: {exe: ["\(agentA)"]}
              - name: B
                mode: \(bMode)
                match: {comm: [agentA]}
            """.write(toFile: policy, atomically: true, encoding: .utf8)
            let check = try plainTether(["check-policy", policy])
            XCTAssertEqual(check.status, 0, check.stderr)
            XCTAssertTrue(check.stderr.contains("warning: agents A and B") && check.stderr.contains("exe comes first, A wins"), check.stderr)
            let cron = "/etc/cron.d/tether-test-overlap-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: cron) }
            let go = dir + "/go-\(aMode)"
            let (daemon, log) = try startDaemon()
            XCTAssertTrue(log().contains("warning: agents A and B"), log())
            let (a, s) = try startAgent(agentA, "while [ ! -e \(go) ]; do sleep 0.05; done; echo '* * * * * root /bin/true' > \(cron); sleep 30", log: log)
            XCTAssertEqual(try session(s)?.agent, "A", "tether sessions names the kernel's entry's agent")
            FileManager.default.createFile(atPath: go, contents: nil)
            let f = try alert("persist.cron", s, log: log)
            XCTAssertEqual(f.agent, "A", "the alert names the kernel's agent")
            var start: Event?
            XCTAssertTrue(waitFor(10) { start = self.events().first { $0.kind == .exec && $0.session == s && $0.sessionStart }; return start != nil })
            let exec = try XCTUnwrap(start)
            XCTAssertEqual(exec.agent, "A")
            let content = (try? Data(contentsOf: URL(fileURLWithPath: cron))) ?? Data()
            if aMode == "enforce" {
                XCTAssertEqual(exec.enforcement, .enforce)
                XCTAssertEqual(content.count, 0, "A enforces: the writer died before a byte landed")
                XCTAssertTrue(f.enforced, "\(f)")
                XCTAssertTrue(f.outcome?.contains("kernel already killed") ?? false, f.outcome ?? "")
                a.waitUntilExit()
                XCTAssertEqual(a.terminationReason, .uncaughtSignal)
            } else {
                XCTAssertEqual(exec.enforcement, .monitor)
                XCTAssertGreaterThan(content.count, 0, "A monitors, whatever B's mode: the job landed")
                XCTAssertFalse(f.enforced, "\(f)")
                XCTAssertTrue(f.outcome?.hasPrefix("monitor mode") ?? false, f.outcome ?? "")
                _ = try tether(["kill", s.description])
                a.waitUntilExit()
            }
            daemon.terminate()
            daemon.waitUntilExit()
            try? FileManager.default.removeItem(atPath: dir + "/alerts.jsonl")
            try? FileManager.default.removeItem(atPath: dir + "/events.jsonl")
        }
    }

    /// A running enforce session keeps its agent and mode across a reload (even of the same
    /// policy, as logrotate's SIGHUP does) and across a crash and restart of tetherd: the
    /// next violation after either is contained, and the alert says so.
    func testAReloadAndARestartKeepARunningSessionEnforced() throws {
        let relenf = try bash("relenf")
        try "agents:\n  - name: enf\n    mode: enforce\n    match: {comm: [relenf]}\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let pin = newPinDir()
        var (daemon, log) = try startDaemon([], pin: pin)
        for phase in ["reload", "restart"] {
            let go = dir + "/go-\(phase)"
            // after the violation it keeps running, unless it is stopped
            let (a, s) = try startAgent(relenf, "while [ ! -e \(go) ]; do sleep 0.05; done; cat /etc/shadow > /dev/null; while :; do sleep 0.05; done", log: log)
            if phase == "reload" {
                let r = try tether(["reload"])
                XCTAssertEqual(r.status, 0, r.stderr)
            } else {
                kill(daemon.processIdentifier, SIGKILL) // a crash: nothing cleaned up
                daemon.waitUntilExit()
                (daemon, log) = try startDaemon([], pin: pin)
                XCTAssertTrue(log().contains("session \(s) tracked again after restart") && log().contains("agent enf"), log())
            }
            XCTAssertEqual(try session(s)?.agent, "enf", "after the \(phase)")
            FileManager.default.createFile(atPath: go, contents: nil)
            let f = try alert("escape.credentials", s, log: log)
            XCTAssertEqual(f.agent, "enf", phase)
            XCTAssertTrue(f.enforced, "after the \(phase): \(f)")
            XCTAssertTrue(f.outcome?.hasPrefix("session stopped") ?? false, f.outcome ?? "")
            XCTAssertTrue(waitFor(10) { self.state(a.processIdentifier) == "T" }, "the session is frozen after the \(phase)")
            XCTAssertEqual(try tether(["kill", s.description]).status, 0)
            a.waitUntilExit()
        }
    }
}
