import Foundation
import XCTest

/// Evasion tier, class 5 (leaving the session through a deputy). Technique: hand work to a
/// host's own job runner that is a script (Python here), started before and outside the
/// session, that runs whatever its unix socket's clients send. ATT&CK T1559 (Inter-Process
/// Communication). Its executable is python's, as every other Python program's, so neither
/// a built-in deputy nor a policy's executable can name it: the operator names the
/// interpreter and the script (`deputies: [{interpreter: …, script: …}]`), and Tether finds
/// the processes that run that script (by the interpreter's and the script's inodes) and
/// registers them with the kernel, which judges the listener at the connect as it judges
/// tmux. Monitor: the reach is found, naming the script, and what the runner forks for the
/// member is followed (its credential read is a finding). Enforce: the member dies at the
/// connect and the runner never hears of the work. Look-alike: the same server run from a
/// copy of the script is no deputy (the interpreter alone names nothing).
final class InterpreterRunDeputyTests: TetherRunTestCase {
    /// The runner: on the unix socket argv[1], or on a free TCP port of 127.0.0.1 when
    /// argv[1] is "tcp"; it writes "PID" or "PID PORT" to argv[2] once it listens.
    static let server = """
    import os, socket, subprocess, sys
    if sys.argv[1] == "tcp":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        said = "%d %d" % (os.getpid(), s.getsockname()[1])
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(sys.argv[1])
        said = str(os.getpid())
    s.listen(8)
    with open(sys.argv[2], "w") as f:
        f.write(said)
    while True:
        c, _ = s.accept()
        cmd = c.recv(4096).decode()
        if cmd:
            subprocess.run(cmd, shell=True)
        c.sendall(b"k")
        c.close()
    """

    static let python = "/usr/bin/python3"
    /// The member's side: hands the runner at argv[1] the command argv[2], and waits for it
    /// to have run.
    static let client = "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()); s.recv(1)"

    /// The runner's script in a directory of its own (/tmp/`tag`-PID/jobd.py, removed at
    /// tear-down), and the policy line that names it a deputy.
    func runner(_ tag: String) throws -> (bin: String, jobd: String, policy: String) {
        let bin = "/tmp/\(tag)-\(getpid())"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        cleanup.append(bin)
        let jobd = bin + "/jobd.py"
        try Self.server.write(toFile: jobd, atomically: false, encoding: .utf8)
        return (bin, jobd, "deputies:\n  - {interpreter: \(Self.python), script: \(jobd)}\n")
    }

    func testAScriptThePolicyNamesIsADeputyAndACopyIsNot() throws {
        let python = Self.python
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: python), "python3 is installed by `make deps-test`")
        let (bin, jobd, policy) = try runner("tev-pyd")
        let copy = bin + "/copy.py"
        try Self.server.write(toFile: copy, atomically: false, encoding: .utf8)
        // the member hands the runner a command, waits for it to have run, then goes on
        func script(_ sock: String) -> String {
            "\(python) -c '\(Self.client)' \(sock) 'cat /etc/shadow > /dev/null; touch \(dir!)/job-ran'; touch after"
        }

        let sock = try start(python, jobd, in: bin, name: "s")
        let watched = try run(script(sock), mode: "monitor", confined: false, topLevel: policy)
        XCTAssertTrue(watched.stderr.contains("deputies run by an interpreter on this host: jobd.py (pid"), watched.stderr)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.deputy" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertTrue((f["message"] as? String ?? "").contains("reached jobd.py"), "the finding names the script: \(f)")
        let read = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.credentials" }, "the runner's child was not followed: \(watched.rules)")
        XCTAssertTrue((read["message"] as? String ?? "").contains("/etc/shadow"), "\(read)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/job-ran"))

        try FileManager.default.removeItem(atPath: dir + "/job-ran")
        try FileManager.default.removeItem(atPath: dir + "/after")
        let enforced = try run(script(sock), mode: "enforce", confined: false, topLevel: policy)
        let g = try XCTUnwrap(enforced.findings.first { $0["rule"] as? String == "escape.deputy" }, "\(enforced.rules) \(enforced.stderr)")
        XCTAssertTrue((g["outcome"] as? String ?? "").contains("killed"), "\(g)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after"), "the session ran on: \(enforced.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/job-ran"), "the runner ran the work: \(enforced.stderr)")

        // the same server from a copy of the script: same interpreter, another script
        let other = try start(python, copy, in: bin, name: "c")
        let lookalike = try run(script(other), mode: "monitor", confined: false, topLevel: policy)
        XCTAssertFalse(lookalike.rules.contains("escape.deputy"), "\(lookalike.findings)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/job-ran"), "the copy ran the work: \(lookalike.stderr)")
    }

    /// Variant: the runner starts after the session began (restarted after a crash the
    /// agent caused, say), and the member connects at once, before Tether's next look at
    /// the host's processes (every 5 s). The kernel saw the exec (the interpreter's file, the
    /// script's path among its arguments, no member launching it): the runner is a deputy
    /// from its first instruction. Enforce: the member dies at the connect, the work never
    /// runs.
    func testARunnerStartedDuringTheSessionIsADeputyAtOnce() throws {
        try assertStartedDuringTheSessionIsADeputy(relative: false)
    }

    /// Variant: the runner is started from its own directory by its file name
    /// (`WorkingDirectory=/opt/jobd`, `ExecStart=/usr/bin/python3 jobd.py`): the kernel
    /// matches the name with the directory the exec runs in.
    func testARunnerStartedByItsFileNameInItsDirectoryIsADeputyAtOnce() throws {
        try assertStartedDuringTheSessionIsADeputy(relative: true)
    }

    func assertStartedDuringTheSessionIsADeputy(relative: Bool) throws {
        let python = Self.python
        let (bin, jobd, policy) = try runner("tev-pyl")
        let sock = bin + "/s"
        // the member says it runs (so the guards are in), waits for the runner, then hands it work
        let script = """
            echo session-up >&2
            while [ ! -e go ]; do sleep 0.05; done
            \(python) -c '\(Self.client)' \(sock) 'touch \(dir!)/job-ran'; touch after
            """
        var started: Error?
        let enforced = try run(script, mode: "enforce", confined: false, topLevel: policy, when: "session-up", then: {
            do {
                _ = try self.start(python, jobd, in: bin, name: "s", relative: relative)
                _ = FileManager.default.createFile(atPath: self.dir + "/go", contents: Data())
            } catch { started = error }
        })
        XCTAssertNil(started)
        let g = try XCTUnwrap(enforced.findings.first { $0["rule"] as? String == "escape.deputy" }, "\(enforced.rules) \(enforced.stderr)")
        XCTAssertTrue((g["message"] as? String ?? "").contains("reached jobd.py"), "\(g)")
        XCTAssertTrue((g["outcome"] as? String ?? "").contains("killed"), "\(g)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after"), "the session ran on: \(enforced.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/job-ran"), "the runner ran the work: \(enforced.stderr)")
    }

    /// Variant: the runner listens on TCP (a port of its own choosing on loopback). Found as
    /// a process first, its listening socket is then found as a TCP deputy's: the connect to
    /// its port on this host is escape.deputy, refused by the kernel in enforce mode.
    func testAScriptedDeputyOnTcpIsFoundAndRefused() throws {
        let (bin, jobd, policy) = try runner("tev-pyt")
        let port = try start(Self.python, jobd, in: bin, name: "tcp")
        let cmd = "\(KernelHarness.testops) connect-errno 127.0.0.1 \(port) > out.txt"
        func outcome() throws -> String {
            try String(contentsOfFile: dir + "/out.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        let watched = try run(cmd, mode: "monitor", confined: false, topLevel: policy)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.deputy" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertTrue((f["message"] as? String ?? "").contains("reached jobd.py's port on this host (127.0.0.1:\(port)"), "\(f)")
        XCTAssertEqual(try outcome(), "connect 0", "monitor mode refuses nothing")

        let enforced = try run(cmd, mode: "enforce", confined: false, topLevel: policy)
        XCTAssertTrue(enforced.rules.contains("escape.deputy"), "\(enforced.rules) \(enforced.stderr)")
        XCTAssertEqual(try outcome(), "connect \(EPERM)", "the kernel must refuse the connect: \(enforced.stderr)")
    }

    /// Starts `script` under `python` outside any session, listening on `dir/name` (or on
    /// TCP when `name` is "tcp"); returns the socket (or the port) once the server says it
    /// listens. `relative`: from the script's directory, by its file name. Killed at
    /// tear-down.
    func start(_ python: String, _ script: String, in dir: String, name: String, relative: Bool = false) throws -> String {
        let sock = dir + "/" + name, ready = dir + "/" + name + ".pid"
        let spelled = relative ? "cd \((script as NSString).deletingLastPathComponent) && \(python) \((script as NSString).lastPathComponent)" : "\(python) \(script)"
        XCTAssertEqual(try shell("\(spelled) \(name == "tcp" ? "tcp" : sock) \(ready) > /dev/null 2>&1 &"), 0)
        var said: [Substring] = []
        for _ in 0..<6000 where said.isEmpty { // the server's own pace: up to 60 s on a busy machine
            said = ((try? String(contentsOfFile: ready, encoding: .utf8)) ?? "").split(separator: " ")
            if said.isEmpty { usleep(10_000) }
        }
        let server = try XCTUnwrap(said.first.flatMap { Int32($0) }, "the server did not start")
        addTeardownBlock { kill(server, SIGKILL) }
        return name == "tcp" ? String(try XCTUnwrap(said.last)) : sock
    }
}
