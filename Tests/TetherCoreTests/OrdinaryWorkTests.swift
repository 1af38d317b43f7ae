import XCTest
@testable import TetherCore

/// Ordinary agent work under the shipped policy: not a single finding of any rule.
final class OrdinaryWorkTests: XCTestCase {
    func testOrdinaryDevelopmentIsQuiet() throws {
        let ws = Scenario.workspace
        let session: [Event] = [
            // The agent reads the project and system information.
            E.open(ws, "d"), E.open("\(ws)/Package.swift"), E.open("/etc/os-release"), E.open("/proc/cpuinfo"),
            E.open("/proc/100/status"), E.open("/sys/devices/system/cpu/online"), E.open("/etc/passwd"),
            E.open("/etc/ld.so.cache"), E.open("/etc/ld.so.preload", result: -2), E.open("/usr/lib/x86_64-linux-gnu/libc.so.6"),
            E.open("/home/dev/.gitconfig"), E.open("/home/dev/.ssh/known_hosts"), E.open("/home/dev", "d"),
            E.connect("160.79.104.10", 443), // the model's API
            // Edits and a build in the workspace.
            E.fork(100, 200), E.exec("/bin/bash", ["bash", "-c", "swift build"], pid: 200),
            E.write("\(ws)/Sources/main.swift", pid: 200), E.rename("\(ws)/Sources/.main.swift.tmp", "\(ws)/Sources/main.swift", pid: 200),
            E.mkdir("\(ws)/.build", pid: 200), E.write("\(ws)/.build/debug/app", pid: 200, mode: 0o755),
            E.chmod("\(ws)/.build/debug/app", 0o755, pid: 200), E.exec("\(ws)/.build/debug/app", ["app"], pid: 200),
            E.exit(200),
            // git: status, commit, push over https and ssh.
            E.fork(100, 201), E.exec("/usr/bin/git", ["git", "commit", "-m", "x"], pid: 201),
            E.write("\(ws)/.git/index.lock", pid: 201), E.rename("\(ws)/.git/index.lock", "\(ws)/.git/index", pid: 201),
            E.write("\(ws)/.git/objects/ab/cdef", pid: 201), E.open("\(ws)/.git/hooks/pre-commit", result: -2),
            E.exec("/usr/lib/git-core/git-remote-https", ["git-remote-https", "origin", "https://github.com/x/y"], pid: 201),
            E.open("/home/dev/.netrc", pid: 201, result: -2), E.connect("140.82.112.3", 443, pid: 201), E.exit(201),
            E.fork(100, 202), E.exec("/usr/bin/ssh", ["ssh", "git@github.com", "git-receive-pack"], pid: 202),
            E.open("/home/dev/.ssh/config", pid: 202), E.open("/home/dev/.ssh/id_ed25519", pid: 202),
            E.open("/home/dev/.ssh/known_hosts", "wa", pid: 202), E.connect("140.82.112.4", 22, pid: 202), E.exit(202),
            // git clone writes sample hooks.
            E.fork(100, 203), E.exec("/usr/bin/git", ["git", "clone", "https://github.com/x/z", "vendor/z"], pid: 203),
            E.write("\(ws)/vendor/z/.git/hooks/pre-commit.sample", pid: 203, mode: 0o755), E.exit(203),
            // A virtualenv and a package install into the workspace; pip's cache.
            E.fork(100, 204), E.exec("/usr/bin/python3", ["python3", "-m", "venv", ".venv"], pid: 204),
            E.write("\(ws)/.venv/pyvenv.cfg", pid: 204), E.symlink("\(ws)/.venv/bin/python", to: "/usr/bin/python3", pid: 204),
            E.exec("\(ws)/.venv/bin/python", ["python", "-m", "pip", "install", "requests"], pid: 204),
            E.connect("151.101.0.223", 443, pid: 204), E.write("/home/dev/.cache/pip/http-v2/a/b", pid: 204),
            E.write("\(ws)/.venv/lib/python3.11/site-packages/requests/__init__.py", pid: 204),
            E.write("\(ws)/.venv/lib/python3.11/site-packages/distutils-precedence.pth", pid: 204),
            E.write("\(ws)/.venv/bin/normalizer", pid: 204, mode: 0o755),
            E.write("/usr/lib/python3.11/__pycache__/x.cpython-311.pyc", pid: 204, result: -13), E.exit(204),
            // npm install into the workspace.
            E.fork(100, 205), E.exec("/usr/bin/node", ["node", "/usr/bin/npm", "install"], pid: 205),
            E.open("/home/dev/.npmrc", pid: 205, result: -2), E.connect("104.16.2.35", 443, pid: 205),
            E.write("/home/dev/.npm/_cacache/content-v2/sha512/ab/cd", pid: 205),
            E.write("\(ws)/node_modules/left-pad/index.js", pid: 205),
            E.symlink("\(ws)/node_modules/.bin/tsc", to: "../typescript/bin/tsc", pid: 205), E.exit(205),
            // Tests: temp files, a loopback server, a script in /tmp run by the test.
            E.fork(100, 206), E.exec("\(ws)/.venv/bin/python", ["python", "-m", "pytest"], pid: 206),
            E.write("/tmp/pytest-of-dev/pytest-1/test_a0/data.json", pid: 206),
            E.write("/tmp/pytest-of-dev/pytest-1/test_a0/run.sh", pid: 206), E.chmod("/tmp/pytest-of-dev/pytest-1/test_a0/run.sh", 0o755, pid: 206),
            E.fork(206, 207), E.exec("/tmp/pytest-of-dev/pytest-1/test_a0/run.sh", ["run.sh"], pid: 207), E.exit(207),
            E.simple(.bind, pid: 206) { $0.family = .inet; $0.addr = "127.0.0.1"; $0.port = 8000 },
            E.simple(.listen, pid: 206) { $0.family = .inet; $0.addr = "127.0.0.1"; $0.port = 8000 },
            E.connect("127.0.0.1", 8000, pid: 206), E.unlink("/tmp/pytest-of-dev/pytest-1/test_a0/data.json", pid: 206), E.exit(206),
            // go run builds in /tmp.
            E.fork(100, 208), E.exec("/usr/local/go/bin/go", ["go", "run", "."], pid: 208), E.connect("142.250.1.1", 443, pid: 208),
            E.write("/home/dev/go/pkg/mod/cache/download/x.zip", pid: 208),
            E.fork(208, 209), E.exec("/usr/local/go/pkg/tool/linux_amd64/link", ["link", "-o", "/tmp/go-build1/b001/exe/main"], pid: 209),
            E.write("/tmp/go-build1/b001/exe/main", pid: 209, mode: 0o755), E.exit(209),
            E.exec("/tmp/go-build1/b001/exe/main", ["main"], pid: 208), E.exit(208),
            // Reading system information, signalling its own children, a detached helper that stays attached.
            E.fork(100, 210), E.exec("/usr/bin/ps", ["ps", "aux"], pid: 210), E.open("/proc/1/cmdline", pid: 210),
            E.open("/proc/1/stat", pid: 210), E.exit(210),
            E.fork(100, 211), E.setsid(211), E.kill(211, signal: 15), E.exit(211),
            E.exec("/usr/bin/uname", ["uname", "-a"]), E.exec("/usr/bin/df", ["df", "-h"]),
            E.exec("/usr/bin/systemctl", ["systemctl", "status"]),
            // Agent state and a temp file in /run/user.
            E.write("/home/dev/.claude.json"), E.write("/home/dev/.claude/projects/x.jsonl"), E.write("/run/user/1000/x"),
            E.open("/dev/null", "w"), E.open("/dev/tty", "rw"),
        ]
        let s = Scenario()
        s.feed(session)
        s.feed([E.exit(100)])
        XCTAssertTrue(s.classifier.tick(now: s.time + 3600 * 1_000_000_000, table: s.table).isEmpty)
        XCTAssertEqual(s.findings.map { "\($0.rule): \($0.message)" }, [])
        XCTAssertEqual(s.classifier.ruleFailures, 0)
    }
}
