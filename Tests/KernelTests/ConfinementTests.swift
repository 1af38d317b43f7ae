import Foundation
import TetherCore
import XCTest

/// Sessions Tether launches in enforce mode start under Landlock and seccomp: the kernel
/// refuses the operation itself (the tracepoint guards can only kill after it), the agent
/// sees a failed syscall and goes on, and nothing lands. Written as the evasions first.
final class ConfinementTests: XCTestCase {
    var dir: String!
    var cleanup: [String] = []
    var outsider: Process?

    override func setUpWithError() throws {
        _ = try KernelHarness.shared()
        dir = try makeScratch(name)
    }

    override func tearDownWithError() throws {
        if let o = outsider, o.isRunning { o.terminate(); o.waitUntilExit() }
        for p in cleanup { try? FileManager.default.removeItem(atPath: p) }
        if let d = dir { try? FileManager.default.removeItem(atPath: d) }
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var findings: [[String: Any]]
        func finding(_ rule: String) -> [String: Any]? { findings.first { $0["rule"] as? String == rule } }
    }

    /// `tether run --standalone --mode enforce -- /bin/sh -c SCRIPT` in the scratch workspace.
    func run(_ script: String, environment: [String: String] = [:], policy: String? = nil) throws -> Outcome {
        let alerts = dir + "/alerts-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.bin + "/tether")
        p.arguments = ["run", "--standalone", "--mode", "enforce", "--alerts", alerts, "--workspace", dir, "--state-dir", dir + "/state"]
            + (policy.map { ["--policy", $0] } ?? []) + ["--", "/bin/sh", "-c", script]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // A session stopped for a person would wait for ever: past the deadline, kill tether
        // run and whatever of the session is left (every process working in this scratch dir).
        let scratch = dir!
        DispatchQueue.global().asyncAfter(deadline: .now() + 180) {
            guard p.isRunning else { return }
            kill(p.processIdentifier, SIGKILL)
            for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? [] {
                if let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"), cwd.hasPrefix(scratch) { kill(pid, SIGKILL) }
            }
        }
        // both pipes drained at once: either may fill while the other is read
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let done = DispatchSemaphore(value: 0)
        Thread { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); done.signal() }.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        done.wait()
        let errData = errBox.data
        let lines = ((try? String(contentsOfFile: alerts, encoding: .utf8)) ?? "").split(separator: "\n")
        let findings = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return Outcome(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                       stderr: String(decoding: errData, as: UTF8.self), findings: findings)
    }

    /// A process outside the session, for the agent to aim at.
    func startOutsider() throws -> Int32 {
        let o = Process()
        o.executableURL = URL(fileURLWithPath: "/bin/sleep")
        o.arguments = ["600"]
        try o.run()
        outsider = o
        return o.processIdentifier
    }

    /// An abstract unix socket made outside the session.
    func listenAbstract(_ name: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8)
        withUnsafeMutableBytes(of: &a.sun_path) { p in for (i, b) in bytes.enumerated() { p[i + 1] = b } }
        let len = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + 1 + bytes.count)
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard rc == 0, listen(fd, 4) == 0 else { close(fd); throw POSIXError(.init(rawValue: errno)!) }
        return fd
    }

    func testEveryWayIntoAPersistenceLocationIsRefusedAndTheAgentGoesOn() throws {
        let tag = "tether-test-confine-\(getpid())"
        let ops = KernelHarness.testops
        let moved = "/etc/cron.d/\(tag)-mv", spelled = "/etc/cron.d/\(tag)-sp", linked = "/etc/cron.d/\(tag)-tmp"
        let exchanged = "/etc/cron.d/\(tag)-ex"
        cleanup += [moved, spelled, linked, exchanged]
        let harmless = "# placed by the test; must stay as it is\n"
        try harmless.write(toFile: exchanged, atomically: false, encoding: .utf8)
        // A HOME that is not the passwd home: its startup files are protected too.
        let home = "/var/cache/\(tag)-home"
        cleanup.append(home)
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let rc = "# the user's own rc\n"
        try rc.write(toFile: home + "/.bashrc", atomically: false, encoding: .utf8)
        let victim = try startOutsider()
        let sock = try listenAbstract(tag)
        defer { close(sock) }

        let job = "'* * * * * root /bin/true'"
        let r = try run("""
        echo \(job) > job; mv job \(moved); echo "mv=$?"
        echo \(job) > job2; mv job2 //etc//./cron.d/./\(tag)-sp; echo "spelled=$?"
        echo \(job) > job3; \(ops) exchange job3 \(exchanged)
        \(ops) tmpfile-link . \(job) \(linked)
        sed -i 's/^/x/' "$HOME/.bashrc"; echo "sed=$?"
        echo evil >> "$HOME/.bashrc"; echo "append=$?"
        \(ops) uring
        \(ops) signal \(victim) 15
        \(ops) attach \(victim)
        \(ops) abstract \(tag)
        \(ops) int80; echo "int80-status=$?"
        echo continued
        """, environment: ["HOME": home])

        XCTAssertEqual(r.status, 0, "the agent went on to its end: \(r.stdout) \(r.stderr)")
        for line in ["mv=1", "spelled=1", "sed=4", "append=2", "uring 1", "signal 1", "attach 1", "abstract 1",
                     "int80-status=159", "continued"] {
            XCTAssertTrue(r.stdout.contains(line), "expected '\(line)' in: \(r.stdout)\n\(r.stderr)")
        }
        XCTAssertFalse(r.stdout.contains("exchange 0"), r.stdout)
        XCTAssertFalse(r.stdout.contains("tmpfile-link 0"), r.stdout)
        for p in [moved, spelled, linked] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: p), "\(p) landed")
        }
        XCTAssertEqual(try String(contentsOfFile: exchanged, encoding: .utf8), harmless, "the exchange did not happen")
        XCTAssertEqual(try String(contentsOfFile: home + "/.bashrc", encoding: .utf8), rc)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: home), [".bashrc"], "no temporary file of sed -i")
        XCTAssertTrue(outsider!.isRunning, "the signal did not reach outside the session")

        // What the kernel refused is said, and the finding says the session went on.
        XCTAssertTrue(r.stderr.contains("refused: file changes"), r.stderr)
        let cron = try XCTUnwrap(r.finding("persist.cron"), "\(r.findings)")
        XCTAssertTrue((cron["outcome"] as? String ?? "").contains("refused by the kernel"), "\(cron)")
        XCTAssertEqual(cron["enforced"] as? Bool, true)
        XCTAssertNotNil(r.finding("evasion.io_uring"), "the refused io_uring_setup is a finding")
        let sigsys = try XCTUnwrap(r.finding("evasion.restricted_syscall"), "\(r.findings)")
        XCTAssertTrue((sigsys["message"] as? String ?? "").contains("SIGSYS"), "\(sigsys)")
    }

    /// A refusal is explained on the agent's own stderr (here a pipe its tool output goes
    /// through), so the agent can change course: the rule, what happened, the policy. The
    /// kernel holds the refused process until it has been told, so the reason comes before
    /// the tool's own error, even from a tool that exits at once, with no shell around it
    /// (the pipe would otherwise be closed before the reason could reach it).
    func testTheAgentIsToldWhy() throws {
        let target = "/etc/cron.d/tether-test-tell-\(getpid())"
        cleanup.append(target)
        let r = try run("""
        echo job > j; exec mv j \(target)
        """)
        XCTAssertEqual(r.status, 1, "mv failed and said so: \(r.stderr)")
        let lines = r.stderr.split(separator: "\n").map(String.init)
        let told = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("tether: persist.cron") }, r.stderr)
        XCTAssertTrue(lines[told].contains(target) && lines[told].contains("refused by the kernel") && lines[told].contains("[policy "), lines[told])
        let own = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("mv: ") && $0.contains("Permission denied") }, "mv's own message: \(r.stderr)")
        XCTAssertLessThan(told, own, "the reason reached mv before it reported the failure: \(r.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))
        let cron = try XCTUnwrap(r.finding("persist.cron"), "\(r.findings)")
        XCTAssertTrue((cron["events"] as? [[String: Any]] ?? []).contains { ($0["guard"] as? [String] ?? []).contains("held") },
                      "the refused rename was held: \(cron)")
    }

    /// A refusal the kernel does not make (here landlock_restrict_self neutered by an outer
    /// seccomp filter that returns success, as a hostile container profile could) is caught
    /// by the canary before the agent runs, said, and raised as an alert.
    func testTheCanaryReportsAGuardThatIsNotInEffect() throws {
        let alerts = dir + "/alerts.jsonl"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: KernelHarness.testops)
        // testops' exec ends at its first "--": the run's own "--" goes inside sh -c
        p.arguments = ["fake-success", "446" /* landlock_restrict_self, x86-64 */, "exec", "/bin/sh", "-c",
                       "exec '\(CLITests.bin)/tether' run --standalone --mode enforce --alerts '\(alerts)' --workspace '\(dir!)' -- /bin/true"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertTrue(text.contains("canary: a file created outside the boundary: NOT REFUSED"), text)
        XCTAssertTrue(text.contains("canary: io_uring_setup: refused"), "seccomp still works: \(text)")
        let alert = try String(contentsOfFile: alerts, encoding: .utf8)
        XCTAssertTrue(alert.contains("\"tether.guard_ineffective\"") && alert.contains("a file created outside the boundary"), alert)

        // and with nothing neutered, every claim holds
        let ok = try run("true")
        XCTAssertFalse(ok.stderr.contains("NOT REFUSED"), ok.stderr)
        XCTAssertTrue(ok.stderr.contains("canary: a file created outside the boundary: refused (EACCES)"), ok.stderr)
    }

    /// What ordinary work needs runs as it always does under the same confinement.
    func testOrdinaryWorkRunsUntouched() throws {
        let origin = try makeScratch(name + "origin")
        cleanup.append(origin)
        let git = "git -c user.email=a@b -c user.name=a"
        let setup = Process()
        setup.executableURL = URL(fileURLWithPath: "/bin/sh")
        setup.arguments = ["-c", "cd \(origin) && git init -q . && printf 'all:\\n\\techo built > out.txt\\n' > Makefile && \(git) add . && \(git) commit -qm init"]
        try setup.run()
        setup.waitUntilExit()
        XCTAssertEqual(setup.terminationStatus, 0)

        let r = try run("""
        set -e
        git clone -q \(origin) proj && make -s -C proj && grep -q built proj/out.txt
        (cd proj && echo change >> Makefile && \(git) commit -qam change && git log --oneline | wc -l | grep -q 2)
        python3 -m venv .venv
        python3 - <<'EOF'
        import zipfile
        w = zipfile.ZipFile("hello-0.1-py3-none-any.whl", "w")
        w.writestr("hello/__init__.py", "X = 1\\n")
        w.writestr("hello-0.1.dist-info/METADATA", "Metadata-Version: 2.1\\nName: hello\\nVersion: 0.1\\n")
        w.writestr("hello-0.1.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
        w.writestr("hello-0.1.dist-info/RECORD", "")
        w.close()
        EOF
        .venv/bin/pip install -q --no-index --disable-pip-version-check hello-0.1-py3-none-any.whl
        .venv/bin/python -c 'import hello; assert hello.X == 1'
        t=$(mktemp -d) && echo test > "$t/case" && grep -q test "$t/case" && rm -r "$t"
        python3 -c 'import tempfile, os; f = tempfile.NamedTemporaryFile(dir="/tmp"); f.write(b"x"); f.flush(); print("tmp ok")'
        \(KernelHarness.testops) listen4 127.0.0.1 0 connect4 127.0.0.1 9 memfd jit
        echo all-done
        """)
        XCTAssertEqual(r.status, 0, "\(r.stdout)\n\(r.stderr)")
        XCTAssertTrue(r.stdout.contains("all-done"), r.stdout)
        let loud = r.findings.filter { ($0["severity"] as? String) != "low" }
        XCTAssertTrue(loud.isEmpty, "ordinary work raised: \(loud)")
    }

    /// A policy can take a refusal back where ordinary work needs it, and switch Landlock off.
    func testPolicyDecidesWhatIsRefused() throws {
        let policy = dir + "/policy.yaml"
        try """
        version: 1
        defaults:
          confine:
            allow_syscalls: [io_uring_setup]
            scope_signals: false
        """.write(toFile: policy, atomically: true, encoding: .utf8)
        let victim = try startOutsider()
        let r = try run("\(KernelHarness.testops) uring signal \(victim) 0", policy: policy)
        XCTAssertTrue(r.stdout.contains("uring 0"), r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("signal 0"), r.stdout + r.stderr)
        XCTAssertFalse(r.stderr.contains("refused: signals"), r.stderr)
        XCTAssertFalse(r.stderr.contains("io_uring_setup,"), r.stderr)
    }
}
