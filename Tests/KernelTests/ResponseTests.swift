import CTetherProbe
import Foundation
import TetherCore
import TetherProbe
import TetherResponse
import XCTest

/// Containment with real processes: user-space actions on whole sessions, kernel guards
/// that kill and freeze, and cgroup hooks that refuse.
final class ResponseTests: KernelTestCase {
    var control: SessionControl!
    var started: [Launcher.Started] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        control = SessionControl(probe: k.probe)
        try k.probe.setGuards(.all)
    }

    override func tearDownWithError() throws {
        for s in started {
            try? control.kill(s.session)
            _ = Launcher.wait(s.pid)
        }
        try? k.probe.setGuards([])
        try? k.probe.clearProtectedInodes()
        try? k.probe.clearEgress()
        try super.tearDownWithError()
    }

    func start(_ ops: [String], enforce: Bool = true, agent: UInt16 = 0) throws -> Launcher.Started {
        let s = try Launcher.spawn([KernelHarness.testops] + ops, session: SessionID.random(), probe: k.probe,
                                   agent: agent, mode: enforce ? .enforce : .monitor)
        started.append(s)
        return s
    }

    /// Runs to completion and returns stdout.
    func runCapturing(_ ops: [String], enforce: Bool = true, cwd: String? = nil) throws -> (out: String, run: KernelHarness.Run) {
        let out = scratch + "/stdout-\(UInt32.random(in: 0...UInt32.max))"
        let s = try Launcher.spawn([KernelHarness.testops] + ops, cwd: cwd, stdout: out, session: SessionID.random(), probe: k.probe, mode: enforce ? .enforce : .monitor)
        _ = Launcher.wait(s.pid)
        let deadline = Date().addingTimeInterval(5)
        while !k.events(s.session).contains(where: { $0.kind == .exit && $0.pid == s.pid }) && Date() < deadline { usleep(5_000) }
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        return (text, KernelHarness.Run(session: s.session, pid: s.pid, status: 0, events: k.events(s.session)))
    }

    func counter(_ file: String) -> UInt64 {
        UInt64(((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    func waitFor(_ what: String, timeout: TimeInterval = 5, _ cond: () -> Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while !cond() && Date() < deadline { usleep(5_000) }
        XCTAssertTrue(cond(), "timed out waiting for \(what)")
    }

    func state(_ pid: Int32) -> Character? {
        guard let t = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = t.lastIndex(of: ")") else { return nil }
        return t[t.index(close, offsetBy: 2)]
    }

    /// The session's live members, per the kernel, once there are `n` of them.
    func members(_ s: SessionID, atLeast n: Int) -> [Int32] {
        waitFor("\(n) members") { control.members(s).count >= n }
        return control.members(s)
    }

    // MARK: user-space actions

    func testStopFreezesEveryMemberUntilResumed() throws {
        let a = scratch + "/a", b = scratch + "/b"
        let s = try start(["daemon-progress", b, "progress", a])
        waitFor("progress") { counter(a) > 3 && counter(b) > 3 }
        let out = try control.stop(s.session)
        XCTAssertGreaterThanOrEqual(out.signalled.count, 2, "root and the daemonized grandchild")
        usleep(50_000)
        let (a1, b1) = (counter(a), counter(b))
        usleep(200_000)
        XCTAssertEqual(counter(a), a1, "a stopped session makes no progress")
        XCTAssertEqual(counter(b), b1, "including a member that left the process group")
        XCTAssertTrue(control.members(s.session).allSatisfy { state($0) == "T" })
        try control.resume(s.session)
        waitFor("progress after resume") { counter(a) > a1 + 3 && counter(b) > b1 + 3 }
    }

    func testKillLeavesNoMemberAlive() throws {
        let a = scratch + "/a", b = scratch + "/b"
        let s = try start(["daemon-progress", b, "progress", a])
        let pids = members(s.session, atLeast: 2)
        try control.kill(s.session)
        XCTAssertEqual(Launcher.wait(s.pid), 128 + 9)
        waitFor("every member gone") { pids.allSatisfy { kill($0, 0) != 0 } }
        XCTAssertTrue(control.members(s.session).isEmpty)
        started.removeAll()
    }

    func testTerminateAsksFirstThenKillsWhatIsLeft() throws {
        // a member that honours SIGTERM ends at once; one that ignores it dies after the grace
        let polite = try Launcher.spawn(["/bin/sh", "-c", "sleep 30"], session: SessionID.random(), probe: k.probe)
        started.append(polite)
        members(polite.session, atLeast: 2)
        let t0 = Date()
        try control.terminate(polite.session, grace: 5)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2, "SIGTERM was enough")
        XCTAssertEqual(Launcher.wait(polite.pid), 128 + 15)

        let stubborn = try Launcher.spawn(["/bin/sh", "-c", "trap '' TERM; sleep 30; true"], session: SessionID.random(), probe: k.probe)
        started.append(stubborn)
        members(stubborn.session, atLeast: 2)
        let t1 = Date()
        try control.terminate(stubborn.session, grace: 0.5)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(t1), 0.5, "the grace period was given")
        XCTAssertEqual(Launcher.wait(stubborn.pid), 128 + 9)
        XCTAssertTrue(control.members(stubborn.session).isEmpty)
        started.removeAll()
    }

    func testAChildForkedWhileFrozenIsStoppedBeforeItRuns() throws {
        let child = scratch + "/child", gate = scratch + "/fork-now"
        // the root forks a progress child once told to; we freeze the session before that
        let s = try start(["fork-later", gate, child, "sleep-ms", "100000"])
        members(s.session, atLeast: 1)
        try control.stop(s.session)
        try control.resume(s.session) // resume only the root, by hand below
        try k.probe.setFrozen(s.session, true)
        _ = tp_pidfd_signal(s.pid, SIGCONT)
        FileManager.default.createFile(atPath: gate, contents: Data())
        let pids = members(s.session, atLeast: 2)
        let kid = try XCTUnwrap(pids.first { $0 != s.pid })
        waitFor("the child stopped") { state(kid) == "T" }
        usleep(100_000)
        XCTAssertEqual(counter(child), 0, "the child never ran an instruction of its own")
        let fork = k.events(s.session).first { $0.kind == .fork && $0.target == kid }
        XCTAssertEqual(fork?.guardActions.contains(.forkFrozen), true)
    }

    // MARK: kernel guards

    func testTamperSignalKillsTheSenderAndFreezesItsSession() throws {
        // a stand-in for tetherd: a protected process the agent tries to kill
        let supervisor = Process()
        supervisor.executableURL = URL(fileURLWithPath: KernelHarness.testops)
        supervisor.arguments = ["sleep-ms", "100000"]
        try supervisor.run()
        defer { supervisor.terminate(); supervisor.waitUntilExit() }
        try k.probe.protect(pid: supervisor.processIdentifier)
        defer { try? k.probe.protect(pid: supervisor.processIdentifier, false) }

        let a = scratch + "/a"
        let s = try start(["daemon-progress", a, "sleep-ms", "300", "kill", String(supervisor.processIdentifier), "15", "sleep-ms", "100000"])
        XCTAssertEqual(Launcher.wait(s.pid), 128 + 9, "the sender died on return from kill()")
        waitFor("the kill event") { k.events(s.session).contains { $0.kind == .kill } }
        let ev = try XCTUnwrap(k.events(s.session).first { $0.kind == .kill && $0.target == supervisor.processIdentifier })
        XCTAssertEqual(ev.guardActions, [.killed, .froze, .tamper])
        // what is left of the session (the daemonized grandchild; the fork between is gone)
        waitFor("the rest of the session frozen") {
            let rest = control.members(s.session).filter { $0 != s.pid }
            return !rest.isEmpty && rest.allSatisfy { state($0) == "T" }
        }
        XCTAssertTrue(k.probe.isFrozen(s.session))
        let c = counter(a)
        usleep(100_000)
        XCTAssertEqual(counter(a), c)
    }

    func testBpfAndSignalZeroAreJudgedApart() throws {
        let r = try runCapturing(["kill", String(getpid()), "0", "bpf", "pid"])
        let probeSig = try XCTUnwrap(r.run.events.first { $0.kind == .kill })
        XCTAssertEqual(probeSig.guardActions, [], "signal 0 to an unprotected pid is nothing")
        let bpf = try XCTUnwrap(r.run.events.first { $0.kind == .bpf })
        XCTAssertTrue(bpf.guardActions.contains(.killed))
        XCTAssertTrue(bpf.guardActions.contains(.tamper))
        XCTAssertFalse(r.out.contains("\n"), "killed before printing its pid: \(r.out)")
    }

    func testWriteGuardKillsBeforeAByteIsWritten() throws {
        let cron = scratch + "/cron.d"
        try FileManager.default.createDirectory(atPath: cron, withIntermediateDirectories: true)
        let existing = scratch + "/authorized_keys"
        try "ssh-ed25519 AAAA operator\n".write(toFile: existing, atomically: true, encoding: .utf8)
        var st = stat()
        stat(cron, &st)
        try k.probe.protect(dev: UInt64(st.st_dev), inode: UInt64(st.st_ino), [.write, .directory])
        stat(existing, &st)
        try k.probe.protect(dev: UInt64(st.st_dev), inode: UInt64(st.st_ino), [.write])

        let r1 = try runCapturing(["write", cron + "/job", "* * * * * root /tmp/x\n"])
        let open1 = try XCTUnwrap(r1.run.events.first { $0.kind == .open && $0.path == cron + "/job" })
        XCTAssertEqual(open1.guardActions, [.killed, .froze, .write])
        XCTAssertEqual(open1.size, 0, "the finding can say: an empty file was created")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: cron + "/job")).count, 0, "no content landed")
        XCTAssertEqual(r1.run.events.first { $0.kind == .exit && $0.pid == r1.run.pid }?.signal, 9)

        let r2 = try runCapturing(["append", existing, "ssh-rsa EVIL attacker\n"])
        let open2 = try XCTUnwrap(r2.run.events.first { $0.kind == .open && $0.path == existing })
        XCTAssertTrue(open2.guardActions.contains(.write))
        XCTAssertEqual(try String(contentsOfFile: existing, encoding: .utf8), "ssh-ed25519 AAAA operator\n")

        // reading a protected file is not guarded
        let r3 = try runCapturing(["open", existing, "r", "pid"])
        XCTAssertEqual(r3.run.events.first { $0.kind == .open && $0.path == existing }?.guardActions, [])
        XCTAssertTrue(r3.out.hasSuffix("\n"))
    }

    /// Renames, links and symlinks have no fd to match on: the kernel finds the
    /// destination's directory again in the dcache, from the root, the cwd or a dirfd,
    /// through `..` and across a mount, and matches (directory, name) or the directory.
    func testRenameLinkAndSymlinkIntoProtectedLocationsAreKilled() throws {
        let fm = FileManager.default
        let cron = scratch + "/cron.d", home = scratch + "/home", sub = scratch + "/sub", mnt = scratch + "/mnt"
        for d in [cron, home, sub, mnt, scratch + "/elsewhere"] { try fm.createDirectory(atPath: d, withIntermediateDirectories: true) }
        XCTAssertEqual(mount("tmpfs", mnt, "tmpfs", 0, nil), 0, "mounting a tmpfs: errno \(errno)")
        defer { umount2(mnt, Int32(MNT_DETACH)) }
        try fm.createDirectory(atPath: mnt + "/cron.d", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: scratch + "/c", withDestinationPath: "cron.d")
        try fm.createSymbolicLink(atPath: scratch + "/cc", withDestinationPath: "c")
        for (link, to) in [("c2", "cc"), ("c3", "c2"), ("c4", "c3")] {
            try fm.createSymbolicLink(atPath: scratch + "/" + link, withDestinationPath: to)
        }
        for n in 1...10 { fm.createFile(atPath: scratch + "/payload\(n)", contents: Data("* * * * * root /tmp/x\n".utf8)) }
        fm.createFile(atPath: mnt + "/payload", contents: Data("x".utf8))
        func protect(_ path: String, _ p: Protection) throws {
            var st = stat()
            XCTAssertEqual(stat(path, &st), 0)
            try k.probe.protect(dev: UInt64(st.st_dev), inode: UInt64(st.st_ino), p)
        }
        try protect(cron, [.write, .directory])
        try protect(mnt + "/cron.d", [.write, .directory])
        var st = stat()
        stat(home, &st)
        try k.probe.protect(directoryDev: UInt64(st.st_dev), inode: UInt64(st.st_ino), name: ".bashrc", .write)
        try k.probe.protect(directoryDev: UInt64(st.st_dev), inode: UInt64(st.st_ino), name: ".profile", .write)

        func guarded(_ ops: [String], cwd: String, _ kind: EventKind, path: String) throws -> Event? {
            let r = try runCapturing(ops, cwd: cwd)
            let e = r.run.events.first { $0.kind == kind && $0.result == 0 && ($0.newPath == path || $0.path == path) }
            XCTAssertNotNil(e, "no successful \(kind) to \(path): \(r.run.events.filter { $0.kind == kind }.map(EventJSON.encode))")
            return e
        }
        let killed: GuardActions = [.killed, .froze, .write]
        // absolute destination
        XCTAssertEqual(try guarded(["rename", scratch + "/payload1", cron + "/job1"], cwd: scratch, .rename, path: cron + "/job1")?.guardActions, killed)
        // relative to the cwd, through ..
        XCTAssertEqual(try guarded(["rename", "../payload2", "../cron.d/./job2"], cwd: sub, .rename, path: cron + "/job2")?.guardActions, killed)
        // a link, and a symlink onto a protected name that does not exist yet
        XCTAssertEqual(try guarded(["link", "payload3", "cron.d/job3"], cwd: scratch, .link, path: cron + "/job3")?.guardActions, killed)
        XCTAssertEqual(try guarded(["symlink", "/tmp/evil", "home/.bashrc"], cwd: scratch, .symlink, path: home + "/.bashrc")?.guardActions, killed)
        // across a mount point
        XCTAssertEqual(try guarded(["rename", "mnt/payload", "mnt/cron.d/job"], cwd: scratch, .rename, path: mnt + "/cron.d/job")?.guardActions, killed)
        // opening a protected name that does not exist yet for write is guarded too
        let w = try runCapturing(["write", home + "/.profile", "evil"], cwd: scratch)
        XCTAssertEqual(w.run.events.first { $0.kind == .open && $0.path == home + "/.profile" }?.guardActions, killed)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: home + "/.profile")).count, 0, "no content landed")
        // the side effect remained: the rename was done
        XCTAssertTrue(fm.fileExists(atPath: cron + "/job1"))
        XCTAssertFalse(fm.fileExists(atPath: scratch + "/payload1"))

        // through a symlinked directory (its target in the inode): followed in the kernel,
        // and the record names the directory it led to
        let u = try guarded(["rename", "payload5", "c/job5"], cwd: scratch, .rename, path: cron + "/job5")
        XCTAssertEqual(u?.guardActions, killed)
        XCTAssertEqual(u?.newRequested, "c/job5")
        // a symlink within the symlink's target is followed too, to four symlinks in all
        let v = try guarded(["rename", "payload8", "cc/job8"], cwd: scratch, .rename, path: cron + "/job8")
        XCTAssertEqual(v?.guardActions, killed)
        XCTAssertEqual(v?.newRequested, "cc/job8")
        let v4 = try guarded(["rename", "payload10", "c3/job10"], cwd: scratch, .rename, path: cron + "/job10")
        XCTAssertEqual(v4?.guardActions, killed, "c3 -> c2 -> cc -> c -> cron.d")
        // a fifth is not: unresolved, and resolved in user space (the process table) to
        // where it landed
        let w9 = try guarded(["rename", "payload9", "c4/job9"], cwd: scratch, .rename, path: cron + "/job9")
        XCTAssertEqual(w9?.guardActions, [.unresolved])
        XCTAssertEqual(w9?.newRequested, "c4/job9")
        // elsewhere: untouched, and the process goes on
        let r = try runCapturing(["rename", "payload6", "elsewhere/job6", "link", "payload7", "elsewhere/job7", "pid"], cwd: scratch)
        XCTAssertEqual(r.run.events.filter { $0.kind == .rename || $0.kind == .link }.map(\.guardActions), [[], []])
        XCTAssertTrue(r.out.hasSuffix("\n"), "the process ran on after its rename and link")
    }

    // MARK: refusals

    func testEgressOutsideTheAllowListIsRefused() throws {
        let v4 = { (a: UInt8, b: UInt8, c: UInt8, d: UInt8) -> [UInt8] in [UInt8](repeating: 0, count: 10) + [0xff, 0xff, a, b, c, d] }
        try k.probe.allowEgress(agent: 0, address: v4(127, 0, 0, 1), bits: 128, ports: [9...9])
        try k.probe.allowEgress(agent: 0, address: v4(127, 0, 0, 3), bits: 128, ports: [])
        // a loopback stand-in for a metadata endpoint: denied even though allowed
        try k.probe.denyEgress(address: v4(127, 0, 0, 3), bits: 128)
        let r = try runCapturing(["connect-errno", "127.0.0.1", "9", "connect-errno", "127.0.0.1", "10",
                                  "connect-errno", "127.0.0.2", "9", "connect-errno", "127.0.0.3", "9"])
        XCTAssertEqual(r.out, "connect \(ECONNREFUSED)\nconnect \(EPERM)\nconnect \(EPERM)\nconnect \(EPERM)\n")
        let c = r.run.of(.connect)
        XCTAssertEqual(c.count, 4)
        XCTAssertEqual(c.map(\.guardActions), [[], [.refused, .egress], [.refused, .egress], [.refused, .egress]])
        XCTAssertEqual(c[1].result, -Int64(EPERM))
    }

    func testSysctlWriteRawSocketAndRawDiskAreRefused() throws {
        let candidates: [String] = ["/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/xvda", "/dev/loop0"]
        let disk = try XCTUnwrap(candidates.first { FileManager.default.fileExists(atPath: $0) }, "no block device to try")
        let r = try runCapturing(["sysctl-rewrite", "kernel/randomize_va_space", "raw-socket", "open-errno", disk])
        XCTAssertEqual(r.out, "sysctl \(EPERM)\nraw-socket \(EPERM)\nopen \(EPERM)\n")
        let sysctl = try XCTUnwrap(r.run.events.first { $0.kind == .sysctl }, "\(r.run.events.map(\.kind))")
        XCTAssertEqual(sysctl.path, "/proc/sys/kernel/randomize_va_space")
        XCTAssertEqual(sysctl.guardActions, [.refused])
        let sock = try XCTUnwrap(r.run.events.first { $0.kind == .socket })
        XCTAssertEqual(sock.socketType, 3)
        XCTAssertEqual(sock.guardActions, [.refused])
        XCTAssertEqual(sock.result, -Int64(EPERM))
        let dev = try XCTUnwrap(r.run.events.first { $0.kind == .device })
        XCTAssertEqual(dev.deviceType, "block")
        XCTAssertEqual(dev.op, "read")
        XCTAssertEqual(dev.guardActions, [.refused])
    }

    // MARK: monitor mode

    func testMonitorModeChangesNothingButReports() throws {
        let cron = scratch + "/cron.d"
        try FileManager.default.createDirectory(atPath: cron, withIntermediateDirectories: true)
        var st = stat()
        stat(cron, &st)
        try k.probe.protect(dev: UInt64(st.st_dev), inode: UInt64(st.st_ino), [.write, .directory])
        let v4: [UInt8] = [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 127, 0, 0, 1]
        try k.probe.allowEgress(agent: 0, address: v4, bits: 128, ports: [9...9])
        let r = try runCapturing(["write", cron + "/job", "payload", "connect-errno", "127.0.0.2", "9",
                                  "sysctl-rewrite", "kernel/randomize_va_space", "bpf", "pid"], enforce: false)
        XCTAssertEqual(try String(contentsOfFile: cron + "/job", encoding: .utf8), "payload")
        XCTAssertTrue(r.out.contains("connect \(ECONNREFUSED)"), r.out)
        XCTAssertTrue(r.out.contains("sysctl 0"), r.out)
        XCTAssertTrue(r.out.hasSuffix("\n") && r.out.split(separator: "\n").count == 3, "it ran to the end: \(r.out)")
        XCTAssertEqual(r.run.events.first { $0.kind == .open && $0.path == cron + "/job" }?.guardActions, [.monitor, .write])
        XCTAssertEqual(r.run.of(.connect).first?.guardActions, [.monitor, .egress])
        XCTAssertEqual(r.run.of(.sysctl).first?.guardActions, [.monitor])
        XCTAssertEqual(r.run.of(.bpf).first?.guardActions, [.monitor, .tamper])
        XCTAssertFalse(k.probe.isFrozen(r.run.session))
    }
    /// A reload installs the new guard plan beside the old one, then removes the old one:
    /// a write to a location both plans protect is judged by the guard every time, however
    /// many reloads happen meanwhile, and what only the old plan protected is free after.
    func testReinstallingTheGuardPlanLeavesNoGap() throws {
        let both = scratch + "/both", old = scratch + "/old-only", new = scratch + "/new-only"
        for d in [both, old, new] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        func plan(_ dirs: [String]) -> GuardPlan {
            var p = GuardPlan()
            p.guards = [.write]
            p.protected = dirs.map { GuardPlan.Protected(path: $0, protection: Protection([.write, .directory]).rawValue, rule: "persist.cron") }
            return p
        }
        _ = try plan([both, old]).install(k.probe)
        let writes = 400
        let s = try Launcher.spawn([KernelHarness.testops] + Array(repeating: ["write", both + "/job", "x"], count: writes).flatMap { $0 },
                                   session: SessionID.random(), probe: k.probe, mode: .monitor)
        started.append(s)
        var reloads = 0
        func written() -> Int { k.events(s.session).filter { $0.kind == .open && $0.path == both + "/job" }.count }
        // reinstall while the writes go on, until they are done (at least a few times)
        repeat {
            _ = try plan(reloads % 2 == 0 ? [both, new] : [both, old]).install(k.probe)
            reloads += 1
        } while written() < writes || reloads < 4
        _ = Launcher.wait(s.pid)
        let opens = k.events(s.session).filter { $0.kind == .open && $0.path == both + "/job" }
        XCTAssertEqual(opens.count, writes)
        XCTAssertEqual(opens.filter { !$0.guardActions.contains(.write) }.count, 0,
                       "writes the guard did not judge across \(reloads) reinstalls")
        _ = try plan([both, new]).install(k.probe)
        let after = try runCapturing(["write", old + "/job", "x", "write", new + "/job", "y"], enforce: false)
        XCTAssertEqual(after.run.events.first { $0.kind == .open && $0.path == old + "/job" }?.guardActions, [], "the old plan's entry is gone")
        XCTAssertEqual(after.run.events.first { $0.kind == .open && $0.path == new + "/job" }?.guardActions, [.monitor, .write])
    }

    /// Locations that meet at one inode add up: a credential directory whose walk reaches a
    /// persistence directory below it leaves that directory guarded (and noted), whichever
    /// of the two the plan lists first.
    func testLocationsThatMeetKeepEveryProtection() throws {
        let secret = scratch + "/keys", cron = scratch + "/keys/cron.d"
        try FileManager.default.createDirectory(atPath: cron, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: secret + "/id", contents: Data("k".utf8))
        var plan = GuardPlan()
        plan.guards = [.write]
        plan.protected = [GuardPlan.Protected(path: cron, protection: Protection([.write, .directory]).rawValue, rule: "persist.cron")]
        plan.secrets = [GuardPlan.Protected(path: secret, protection: Protection([.secret, .directory]).rawValue, rule: "escape.credentials")]
        _ = try plan.install(k.probe)
        let r = try runCapturing(["open", secret + "/id", "r", "write", cron + "/job", "x", "open", cron + "/job", "r"], enforce: false)
        XCTAssertEqual(r.run.events.first { $0.kind == .open && $0.path == secret + "/id" }?.guardActions, [.noted], "a credential read is noted")
        let opens = r.run.events.filter { $0.kind == .open && $0.path == cron + "/job" }
        XCTAssertEqual(opens.map(\.guardActions), [[.monitor, .write], [.noted]], "the walk below the credential directory kept the write guard")
    }
}
