import Foundation
import TetherCore
import TetherExport
import XCTest

/// tetherd.service under a real systemd (PID 1 of a container), installed with the real
/// unit and binaries: READY, reload, crash → restart, watchdog, stop.
final class SystemdServiceTests: XCTestCase {
    var c: Container!

    static let policy = """
    agents:
      - name: test-agent
        match:
          exe: ["/usr/local/bin/tether-agent"]
    """

    func boot(dropIn: String? = nil) throws {
        c = try Container(test: name) { root in
            try SystemdServiceTests.policy.write(toFile: root + "/etc/tether/policy.yaml", atomically: true, encoding: .utf8)
            try "TETHERD_OPTS=\"--syslog unix:/dev/log,format=rfc3164 --alerts-json /var/log/tether/alerts.jsonl --events /var/log/tether/events.jsonl\"\n"
                .write(toFile: root + "/etc/default/tetherd", atomically: true, encoding: .utf8)
            if let d = dropIn {
                let dir = root + "/etc/systemd/system/tetherd.service.d"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try d.write(toFile: dir + "/test.conf", atomically: true, encoding: .utf8)
            }
        }
        XCTAssertTrue(System.eventually(30) { c.unit("ActiveState") == "active" },
                      "tetherd did not become active: \(c.unit("ActiveState")) \(c.journal())")
    }

    override func tearDown() {
        c?.shutdown()
        c = nil
    }

    func events() -> [Event] {
        (try? EventJSON.decodeLines(c.read("/var/log/tether/events.jsonl"))) ?? []
    }

    func alerts() -> [AlertRecord] {
        c.read("/var/log/tether/alerts.jsonl").split(separator: "\n").compactMap { try? AlertJSON.decode(String($0)) }
    }

    func testStartReachesReadyWithProbesAttachedAndAWatchedProcessIsSeen() throws {
        try boot()
        // Type=notify: "active" only after READY=1, which comes once probes and policy are in place.
        XCTAssertEqual(c.unit("Type"), "notify")
        XCTAssertEqual(c.unit("SubState"), "running")
        XCTAssertTrue(c.unit("StatusText").contains("session(s)"), c.unit("StatusText"))
        // the container is a child pid namespace: no canary can be tracked by pid there, and
        // the status says so rather than claiming (or denying) anything
        XCTAssertTrue(c.unit("StatusText").contains("guards not proven: tetherd runs in a child pid namespace"), c.unit("StatusText"))
        let j = c.journal()
        XCTAssertTrue(j.contains("hooks attached"), j)
        XCTAssertTrue(j.range(of: "hooks attached")!.lowerBound < j.range(of: "tetherd: ready")!.lowerBound)

        try c.exec("/usr/local/bin/tether-agent open /root/ready-marker wc")
        XCTAssertTrue(System.eventually(10) {
            events().contains { $0.kind == .open && ($0.path ?? "").hasSuffix("/root/ready-marker") }
        }, "the watched process's open never arrived: \(c.read("/var/log/tether/events.jsonl").suffix(2000))")
        let exec = try XCTUnwrap(events().first { $0.kind == .exec && $0.sessionStart })
        XCTAssertEqual(exec.path, "/usr/local/bin/tether-agent")

        // The CLI inside talks to the daemon over its control socket.
        let st = try c.exec("tether status")
        XCTAssertEqual(st.status, 0, st.both)
        XCTAssertTrue(st.out.contains("hooks attached"), st.out)
        XCTAssertTrue(st.out.contains("sink        json /var/log/tether/alerts.jsonl: up"), st.out)

        // The installed unit is clean for systemd itself (verify exits 0 on unknown keys: any output fails).
        let v = try c.exec("systemd-analyze verify /usr/local/lib/systemd/system/tetherd.service 2>&1")
        XCTAssertEqual(v.status, 0, v.both)
        XCTAssertEqual(v.both.trimmingCharacters(in: .whitespacesAndNewlines), "", "systemd-analyze verify: \(v.both)")
    }

    func testReloadSwapsInAGoodPolicyAndRejectsABadOneKeepingTheOld() throws {
        try boot()
        try c.exec("cp /usr/local/bin/tether-agent /usr/local/bin/second-agent")
        let pid = c.unit("MainPID")

        // Not watched yet.
        try c.exec("/usr/local/bin/second-agent open /root/before-reload wc")
        usleep(500_000)
        XCTAssertFalse(events().contains { ($0.path ?? "").hasSuffix("/root/before-reload") })

        try c.write("/etc/tether/policy.yaml", SystemdServiceTests.policy + """

          - name: second
            match:
              exe: ["/usr/local/bin/second-agent"]
        """)
        let r = try c.exec("systemctl reload tetherd")
        XCTAssertEqual(r.status, 0, r.both)
        XCTAssertEqual(c.unit("MainPID"), pid, "reload keeps the process")
        // (systemd 252's reload job waits for READY=1 when RELOADING=1 came first; the
        // daemon's journal line is what says the new policy is in)
        XCTAssertTrue(System.eventually(10) { c.journal().contains("policy reloaded from /etc/tether/policy.yaml: 2 agent(s)") }, c.journal())
        try c.exec("/usr/local/bin/second-agent open /root/after-reload wc")
        XCTAssertTrue(System.eventually(10) { events().contains { ($0.path ?? "").hasSuffix("/root/after-reload") } },
                      "the reloaded policy did not take effect")

        // A bad policy: rejected with its location, the old one stays, an alert is raised.
        try c.write("/etc/tether/policy.yaml", "agents:\n  - name: broken\n    match:\n      comm: [\"far-too-long-for-a-comm-name\"]\n")
        XCTAssertEqual(try c.exec("systemctl reload tetherd").status, 0)
        XCTAssertTrue(System.eventually(10) { c.journal().contains("reload rejected") }, c.journal())
        XCTAssertTrue(c.journal().contains("/etc/tether/policy.yaml:4:"), c.journal())
        XCTAssertEqual(c.unit("MainPID"), pid)
        XCTAssertEqual(c.unit("ActiveState"), "active")
        XCTAssertTrue(System.eventually(5) { alerts().contains { $0.rule == "tether.policy_rejected" && $0.path == "/etc/tether/policy.yaml" } },
                      c.read("/var/log/tether/alerts.jsonl"))
        // the same alert reached the container's journald through /dev/log (RFC 3164, as installed by default)
        XCTAssertTrue(System.eventually(5) {
            ((try? c.exec("journalctl -t tether --no-pager -o cat").out) ?? "").contains("rule=tether.policy_rejected severity=high")
        }, (try? c.exec("journalctl -t tether --no-pager -o cat").out) ?? "")
        try c.exec("/usr/local/bin/second-agent open /root/after-bad-reload wc")
        XCTAssertTrue(System.eventually(10) { events().contains { ($0.path ?? "").hasSuffix("/root/after-bad-reload") } },
                      "the previous policy must stay in force after a rejected reload")
        // The same through the CLI: the error comes back to the caller.
        let cli = try c.exec("tether reload")
        XCTAssertNotEqual(cli.status, 0)
        XCTAssertTrue(cli.err.contains("/etc/tether/policy.yaml:4:"), cli.both)
    }

    /// Under systemd tetherd writes findings to the journal natively (`--journal auto`: its
    /// stderr is the journal), so journalctl's field match finds them by rule and session.
    func testFindingsAreJournalEntriesWithTetherFields() throws {
        try boot()
        try c.exec("mkdir -p /etc/cron.d && /usr/local/bin/tether-agent write /etc/cron.d/tether-journal '* * * * * root true\n'")
        var session = ""
        XCTAssertTrue(System.eventually(10) {
            session = events().first { $0.kind == .exec && $0.sessionStart }?.session.description ?? ""
            return !session.isEmpty && alerts().contains { $0.rule == "persist.cron" }
        }, "no persist.cron alert: \(c.read("/var/log/tether/alerts.jsonl"))")
        var entries: [[String: Any]] = []
        XCTAssertTrue(System.eventually(10) {
            let out = (try? c.exec("journalctl -u tetherd TETHER_RULE=persist.cron -o json --no-pager").out) ?? ""
            entries = out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            return !entries.isEmpty
        }, "journalctl TETHER_RULE=persist.cron found nothing: \(c.journal().suffix(2000))")
        let e = try XCTUnwrap(entries.first)
        XCTAssertEqual(e["_SYSTEMD_UNIT"] as? String, "tetherd.service", "\(e)")
        XCTAssertEqual(e["MESSAGE_ID"] as? String, JournalSink.messageID(rule: "persist.cron"))
        XCTAssertEqual(e["TETHER_SESSION"] as? String, session)
        XCTAssertEqual(e["TETHER_PATH"] as? String, "/etc/cron.d/tether-journal")
        XCTAssertEqual(e["TETHER_EXE"] as? String, "/usr/local/bin/tether-agent")
        let severity = try XCTUnwrap(e["TETHER_SEVERITY"] as? String)
        let priority = try XCTUnwrap((e["PRIORITY"] as? String).flatMap(Int.init))
        XCTAssertEqual(priority, Int(SeverityMap()[try XCTUnwrap(AlertSeverity(rawValue: severity))].rawValue), "\(e)")
        XCTAssertTrue((e["MESSAGE"] as? String ?? "").contains("persist.cron"), "\(e)")
        // The family's MESSAGE_ID selects it as well, and the session's field selects only its own.
        let byID = try c.exec("journalctl -u tetherd MESSAGE_ID=\(JournalSink.messageID(rule: "persist.cron")) -o cat --no-pager")
        XCTAssertTrue(byID.out.contains("persist.cron"), byID.both)
        let other = try c.exec("journalctl -u tetherd TETHER_SESSION=no-such-session -o cat --no-pager")
        XCTAssertFalse(other.out.contains("persist.cron"), other.both)
        // Once in the journal: the structured entry replaces tetherd's stderr line for it
        // (the RFC 3164 line through /dev/log is the syslog sink's, installed by default).
        XCTAssertEqual(entries.count, 1, "\(entries)")
        XCTAssertEqual(e["_TRANSPORT"] as? String, "journal")
        let stderr = try c.exec("journalctl -u tetherd _TRANSPORT=stdout -o cat --no-pager").out
        XCTAssertTrue(stderr.contains("tetherd: ready"), stderr)
        XCTAssertFalse(stderr.contains("persist.cron"), stderr)
    }

    func testCrashRestartsAndTheRunningAgentIsStillTracked() throws {
        try boot()
        // A long-running agent whose shell keeps starting children.
        try c.exec("setsid /usr/local/bin/tether-agent exec /bin/sh -c 'while :; do cat /root/tick >/dev/null 2>&1; sleep 0.2; done' -- </dev/null >/dev/null 2>&1 &")
        var session: SessionID?
        XCTAssertTrue(System.eventually(10) {
            session = events().first { $0.kind == .exec && $0.sessionStart }?.session
            return session != nil
        })
        let s = try XCTUnwrap(session)
        let before = c.unit("MainPID")
        XCTAssertTrue(try c.exec("tether sessions").out.contains(s.description))

        try c.exec("kill -SEGV \(before)")
        XCTAssertTrue(System.eventually(20) { c.unit("NRestarts") == "1" && c.unit("ActiveState") == "active" && c.unit("MainPID") != before },
                      "no restart after a crash: \(c.journal())")
        XCTAssertTrue(c.journal().contains("still tracked from before the restart"), c.journal())
        let list = try c.exec("tether sessions")
        XCTAssertTrue(list.out.contains(s.description), "the session survives the crash: \(list.both)")
        // and the agent's new activity arrives under the same session
        XCTAssertTrue(System.eventually(10) {
            events().contains { $0.kind == .exec && $0.session == s && $0.path == "/usr/bin/cat" }
        }, "no events of the running agent after the restart")
        try c.exec("pkill -f 'cat /root/tick' ; pkill -f 'while :'")
    }

    func testWatchdogRestartsAHungDaemonAndLeavesAHealthyOneAlone() throws {
        // Short timings for the test; the unit's own WatchdogSec is checked by the static test.
        try boot(dropIn: "[Service]\nWatchdogSec=2s\nTimeoutAbortSec=2s\n")
        sleep(5) // > 2 × WatchdogSec: the event loop must have fed it
        XCTAssertEqual(c.unit("NRestarts"), "0", "a healthy daemon was restarted: \(c.journal())")
        let before = c.unit("MainPID")
        try c.exec("kill -STOP \(before)")
        XCTAssertTrue(System.eventually(25) { c.unit("NRestarts") == "1" && c.unit("ActiveState") == "active" && c.unit("MainPID") != before },
                      "the hung daemon was not restarted: \(c.journal())")
        let j = try c.exec("journalctl -u tetherd --no-pager").out
        XCTAssertTrue(j.contains("Watchdog timeout"), j)
    }

    func testStopIsCleanAndSuccessful() throws {
        try boot()
        XCTAssertEqual(try c.exec("test -S /run/tether/control.sock").status, 0)
        let r = try c.exec("systemctl stop tetherd")
        XCTAssertEqual(r.status, 0, r.both)
        XCTAssertEqual(c.unit("ActiveState"), "inactive")
        XCTAssertEqual(c.unit("Result"), "success")
        XCTAssertEqual(c.unit("ExecMainStatus"), "0")
        let j = c.journal()
        XCTAssertTrue(j.contains("tetherd: stopping") && j.contains("tetherd: stopped"), j)
        XCTAssertNotEqual(try c.exec("test -e /run/tether/control.sock").status, 0, "the control socket is removed")
    }
}

/// The unit file itself: hardening score and systemd's own checks, without a container.
final class UnitFileTests: XCTestCase {
    func testSecurityExposureIsAtMostFour() throws {
        let analyze = try System.require("systemd-analyze", package: "systemd")
        let r = try System.run(analyze, ["security", "--offline=true", "--threshold=40", System.repo + "/systemd/tetherd.service"])
        XCTAssertEqual(r.status, 0, "exposure above 4.0: \(r.both.suffix(1500))")
        let line = r.both.split(separator: "\n").first { $0.contains("Overall exposure level") } ?? ""
        let score = line.split(separator: " ").compactMap { Double($0) }.first
        XCTAssertNotNil(score, r.both)
        XCTAssertLessThanOrEqual(score ?? 99, 4.0, String(line))
    }

    func testUnitDeclaresNotifyWatchdogRestartAndReload() throws {
        let text = try String(contentsOfFile: System.repo + "/systemd/tetherd.service", encoding: .utf8)
        for line in ["Type=notify", "WatchdogSec=10", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID",
                     "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=read-only",
                     "CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYS_RESOURCE CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_KILL"] {
            XCTAssertTrue(text.split(separator: "\n").contains { $0 == line }, "missing \(line)")
        }
    }
}
