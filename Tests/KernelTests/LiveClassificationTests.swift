import Foundation
import TetherCore
import XCTest

/// Real scripts under `tether run`: persistence and escape techniques are found (and, in
/// enforce mode, contained), and ordinary development work stays quiet and untouched.
/// The dangerous ones run in enforce mode, where the kernel guard stops them before any
/// content lands; every file they touch is removed afterwards.
final class LiveClassificationTests: TetherRunTestCase {
    func testOrdinaryDevelopmentWorkIsQuietAndUntouchedInEnforceMode() throws {
        let script = """
        set -e
        mkdir -p src && printf '#include <stdio.h>\\nint main(void){puts("ok");return 0;}\\n' > src/main.c
        printf 'all: app\\napp: src/main.c\\n\\tcc -O1 -o app src/main.c\\n' > Makefile
        make -s
        ./app > out.txt
        git init -q . && git -c user.email=a@b -c user.name=a add . && git -c user.email=a@b -c user.name=a commit -qm init
        git log --oneline > /dev/null && git status --short > /dev/null
        tmp=$(mktemp) && echo scratch > "$tmp" && rm "$tmp"
        cat /etc/os-release /proc/cpuinfo > /dev/null; uname -a > /dev/null; ls /usr/bin > /dev/null
        \(KernelHarness.testops) listen4 127.0.0.1 0 connect4 127.0.0.1 9
        grep -q ok out.txt
        """
        let r = try run(script)
        XCTAssertEqual(r.status, 0, r.stderr)
        // the one alert is Tether's own: the session ended, its ledger's head
        let loud = r.findings.filter { $0["rule"] as? String != "tether.session_ended" }
        XCTAssertEqual(loud.count, 0, "ordinary work must stay quiet: \(loud)")
        XCTAssertEqual(r.findings.count - loud.count, 1, "the session-end alert: \(r.findings)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/app"))
    }

    func testCronAndSystemdPersistenceAreStoppedBeforeContentLands() throws {
        let cron = "/etc/cron.d/tether-test-\(getpid())"
        let unit = "/etc/systemd/system/tether-test-\(getpid()).service"
        cleanup += [cron, unit]
        let r1 = try run("echo '* * * * * root /bin/true' > \(cron); echo after", confined: false)
        XCTAssertTrue(r1.rules.contains("persist.cron"), "\(r1.rules) \(r1.stderr)")
        XCTAssertEqual((try? Data(contentsOf: URL(fileURLWithPath: cron)))?.count ?? 0, 0, "no content landed")
        XCTAssertTrue(r1.stderr.contains("kernel already killed"), r1.stderr)
        XCTAssertTrue(r1.stderr.contains("left behind: \(cron) was created or truncated: 0 byte(s), nothing written"), r1.stderr)
        XCTAssertNotEqual(r1.status, 0)

        // a file written elsewhere and moved into place: killed at the rename, in the kernel
        let moved = "/etc/cron.d/tether-test-mv-\(getpid())"
        cleanup.append(moved)
        let r3 = try run("f=$(mktemp -p .); echo '* * * * * root /bin/true' > $f; mv $f \(moved); touch after", confined: false)
        XCTAssertTrue(r3.rules.contains("persist.cron"), "\(r3.rules) \(r3.stderr)")
        XCTAssertTrue(r3.stderr.contains("left behind: the rename was done: \(moved) is in place"), r3.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after"), "the shell went on after its mv")

        // through a symlinked directory: the kernel follows it (its target is in the inode),
        // kills at the rename, and the finding names where the job landed
        let viaLink = "/etc/cron.d/tether-test-ln-\(getpid())"
        cleanup.append(viaLink)
        let r4 = try run("ln -s /etc/cron.d c; f=$(mktemp -p .); echo '* * * * * root /bin/true' > $f; mv $f c/\((viaLink as NSString).lastPathComponent); touch after2", confined: false)
        let f4 = try XCTUnwrap(r4.findings.first { $0["rule"] as? String == "persist.cron" }, "\(r4.rules) \(r4.stderr)")
        XCTAssertEqual(f4["path"] as? String, viaLink, "\(f4)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after2"), "the shell went on after its mv")

        let r2 = try run("printf '[Service]\\nExecStart=/bin/true\\n' > \(unit)", confined: false)
        XCTAssertTrue(r2.rules.contains("persist.systemd"), "\(r2.rules)")
        XCTAssertEqual((try? Data(contentsOf: URL(fileURLWithPath: unit)))?.count ?? 0, 0)
    }

    /// Without Landlock (an adopted session, or confinement off) a rename has landed by the
    /// time the kernel kills the caller: Tether undoes it (the artifact to the quarantine, an
    /// existing file's pre-image back), and a person can put it back with `tether quarantine`.
    func testWhatLandedIsUndoneAndCanBePutBack() throws {
        let state = dir + "/state"
        let fresh = "/etc/cron.d/tether-test-undo-\(getpid())", existing = "/etc/cron.d/tether-test-pre-\(getpid())"
        cleanup += [fresh, existing]
        let original = "# the admin's own job, to be kept as it is\n"
        try original.write(toFile: existing, atomically: false, encoding: .utf8)
        let job = "* * * * * root /bin/true"

        let r1 = try run("echo '\(job)' > a; mv a \(fresh); touch after", extra: ["--state-dir", state], confined: false)
        let f1 = try XCTUnwrap(r1.findings.first { $0["rule"] as? String == "persist.cron" }, "\(r1.rules) \(r1.stderr)")
        XCTAssertTrue((f1["outcome"] as? String ?? "").contains("undone: \(fresh) removed to quarantine"), "\(f1)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh), "the rename landed, and was undone")

        // one rename(2) over the file (not mv: mv tries RENAME_NOREPLACE first, and that
        // failed attempt's finding may kill it before it renames over the file, or not): the
        // kernel kills the caller once it has landed, and the undo is said on its own
        let r2 = try run("echo '* * * * * root /bin/false' > b; \(KernelHarness.testops) rename b \(existing)", extra: ["--state-dir", state], confined: false)
        XCTAssertTrue(r2.rules.contains("persist.cron"), "\(r2.rules) \(r2.stderr)")
        XCTAssertTrue(r2.stderr.contains("undone: \(existing) put back as it was before"), r2.stderr)
        XCTAssertEqual(try String(contentsOfFile: existing, encoding: .utf8), original, "the pre-image is back")

        let list = try CLITests.invoke(["quarantine", "list", "--state-dir", state, "--json"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let entries = list.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(Set(entries.compactMap { $0["path"] as? String }), [fresh, existing], list.stdout)
        let id = try XCTUnwrap(entries.first { $0["path"] as? String == fresh }?["id"] as? String)
        let back = try CLITests.invoke(["quarantine", "restore", "--state-dir", state, id])
        XCTAssertEqual(back.status, 0, back.stderr)
        XCTAssertEqual(try String(contentsOfFile: fresh, encoding: .utf8), job + "\n", "a person put the agent's file back")
        let bad = try CLITests.invoke(["quarantine", "restore", "--state-dir", state, "no-such-id"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("no quarantined artifact no-such-id"), bad.stderr)
    }

    /// The refusal issue's other ways in, in sessions without Landlock (as adopted ones
    /// are): each lands for an instant, the kernel kills the caller, and Tether undoes it.
    func testEveryAtomicWayInIsUndoneWithoutLandlock() throws {
        let tag = "tether-test-atomic-\(getpid())"
        let spelled = "/etc/cron.d/\(tag)-sp", linked = "/etc/cron.d/\(tag)-tmp", exchanged = "/etc/cron.d/\(tag)-ex"
        let profile = "/etc/profile.d/\(tag).sh"
        cleanup += [spelled, linked, exchanged, profile]
        let harmless = "# placed by the test; must stay as it is\n"
        try harmless.write(toFile: exchanged, atomically: false, encoding: .utf8)
        try harmless.write(toFile: profile, atomically: false, encoding: .utf8)
        let ops = KernelHarness.testops, job = "'* * * * * root /bin/true'"
        for (what, script) in [
            ("a rename spelled around the resolver", "echo \(job) > j; mv j //etc//./cron.d/./\(tag)-sp"),
            ("an O_TMPFILE linked in", "\(ops) tmpfile-link . \(job) \(linked)"),
            ("RENAME_EXCHANGE with an existing job", "echo \(job) > j; \(ops) exchange j \(exchanged)"),
            ("sed -i of a login script", "sed -i 's/^/x/' \(profile)"),
        ] {
            let r = try run(script, confined: false)
            XCTAssertTrue(r.findings.contains { ($0["rule"] as? String ?? "").hasPrefix("persist.") }, "\(what): no finding: \(r.stderr)")
            for p in [spelled, linked] { XCTAssertFalse(FileManager.default.fileExists(atPath: p), "\(what): \(p) left in place: \(r.stderr)") }
            XCTAssertEqual(try String(contentsOfFile: exchanged, encoding: .utf8), harmless, "\(what): \(r.stderr)")
            XCTAssertEqual(try String(contentsOfFile: profile, encoding: .utf8), harmless, "\(what): \(r.stderr)")
            let strays = (try FileManager.default.contentsOfDirectory(atPath: "/etc/profile.d")).filter { $0.hasPrefix("sed") }
            XCTAssertTrue(strays.isEmpty, "\(what): sed's temporary file left: \(strays)")
        }
    }

    /// A daemonizing member makes enforce mode stop the session: it waits, frozen, for a
    /// person, who kills it with `tether kill SESSION` (answered by tether run's own socket).
    func testDaemonizingStopsTheSessionUntilAPersonKillsIt() throws {
        let marker = dir + "/still-here"
        let alerts = dir + "/alerts.jsonl"
        let policy = dir + "/policy.yaml"
        try "version: 1\ndefaults:\n  rules:\n    persist.daemonize: {action: stop}\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.bin + "/tether")
        p.arguments = ["run", "--standalone", "--policy", policy, "--mode", "enforce", "--alerts", alerts, "--workspace", dir, "--",
                       KernelHarness.testops, "daemon-progress", marker, "sleep-ms", "60000"]
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        var finding: [String: Any]?
        let deadline = Date().addingTimeInterval(20)
        while finding == nil && Date() < deadline {
            let lines = ((try? String(contentsOfFile: alerts, encoding: .utf8)) ?? "").split(separator: "\n")
            finding = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .first { $0["rule"] as? String == "persist.daemonize" }
            usleep(20_000)
        }
        let f = try XCTUnwrap(finding, "persist.daemonize was not reported")
        XCTAssertEqual(f["action"] as? String, "stop")
        XCTAssertEqual(f["enforced"] as? Bool, true)
        let session = try XCTUnwrap(f["session"] as? String)
        usleep(100_000)
        let c = (try? String(contentsOfFile: marker, encoding: .utf8)) ?? ""
        usleep(200_000)
        XCTAssertEqual((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "", c, "the session is frozen")
        XCTAssertTrue(p.isRunning, "tether run waits for a person")

        let kill = Process()
        kill.executableURL = URL(fileURLWithPath: CLITests.bin + "/tether")
        kill.arguments = ["kill", "--socket", dir + "/no-daemon.sock", session]
        let out = Pipe()
        kill.standardOutput = out
        kill.standardError = out
        try kill.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        kill.waitUntilExit()
        XCTAssertEqual(kill.terminationStatus, 0, text)
        let end = Date().addingTimeInterval(10)
        while p.isRunning && Date() < end { usleep(20_000) }
        XCTAssertFalse(p.isRunning)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 128 + 9)
    }

    /// A double-forked daemon still running a grace period after the command exited is
    /// persist.outlived_session in a standalone `tether run` too, and a `kill` action ends it.
    func testADaemonThatOutlivesTheCommandIsFoundAndKilled() throws {
        let marker = dir + "/outlived"
        let policy = dir + "/policy.yaml"
        try """
        version: 1
        defaults:
          rules:
            persist.daemonize: {enabled: false}
            persist.outlived_session: {action: kill}
        """.write(toFile: policy, atomically: true, encoding: .utf8)
        // the daemon's output goes to /dev/null: it must not hold this test's stderr pipe
        let r = try run("\(KernelHarness.testops) daemon-progress \(marker) </dev/null >/dev/null 2>&1",
                        extra: ["--policy", policy, "--grace", "1"])
        let f = try XCTUnwrap(r.findings.first { $0["rule"] as? String == "persist.outlived_session" },
                              "\(r.rules) \(r.stderr)")
        XCTAssertEqual(f["enforced"] as? Bool, true)
        XCTAssertEqual(r.status, 0, "the command itself exited 0")
        let c = counter(marker)
        XCTAssertGreaterThan(c, 0, "the daemon ran before it was judged")
        usleep(300_000)
        XCTAssertEqual(counter(marker), c, "the daemon is dead: its counter stands still")
    }

    private func counter(_ file: String) -> UInt64 {
        UInt64(((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    func testCredentialReadAndTamperingAreFound() throws {
        let r = try run("cat /etc/shadow > /dev/null; kill -TERM $PPID; echo unreachable", mode: "monitor")
        XCTAssertTrue(r.rules.contains("escape.credentials"), "\(r.rules)")
        XCTAssertTrue(r.rules.contains("escape.tamper"), "\(r.rules)")
        XCTAssertEqual(r.status, 0, "monitor mode: the script ran to its end; tether run survived the SIGTERM")
        XCTAssertTrue(r.findings.allSatisfy { ($0["enforced"] as? Bool) == false })

        let e = try run("kill -TERM $PPID; sleep 5", confined: false)
        XCTAssertTrue(e.rules.contains("escape.tamper"), "\(e.rules)")
        XCTAssertEqual(e.status, 128 + 9, "enforce: the kernel killed the sender on return from kill()")
    }

    func testNamespaceEscapeInMonitorModeOnlyReports() throws {
        let r = try run("unshare -m /bin/true; echo done", mode: "monitor")
        XCTAssertTrue(r.rules.contains("escape.namespace"), "\(r.rules)")
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("would have"), r.stderr)
    }
}
