import Foundation
import TetherCore
import TetherProbe
import XCTest

/// Every event kind, produced by a real process under a real session.
final class KernelEventTests: KernelTestCase {

    // MARK: process

    func testExecForkExitCarryTheSession() throws {
        let r = try ops(["spawn", "/bin/true", "--", "exit", "7"])
        XCTAssertEqual(r.status, 7)
        let root = try XCTUnwrap(one(r, .exec) { $0.pid == r.pid })
        XCTAssertEqual(root.path, URL(fileURLWithPath: KernelHarness.testops).resolvingSymlinksInPath().path)
        XCTAssertEqual(root.argv?.first, KernelHarness.testops)
        XCTAssertEqual(root.argv?.count, 6)
        XCTAssertEqual(root.session, r.session)
        XCTAssertEqual(root.cwd, FileManager.default.currentDirectoryPath)
        let fork = try XCTUnwrap(one(r, .fork) { $0.pid == r.pid })
        let child = try XCTUnwrap(fork.target)
        XCTAssertEqual(fork.result, Int64(child))
        let childExec = try XCTUnwrap(one(r, .exec) { $0.pid == child })
        XCTAssertEqual(childExec.path, "/usr/bin/true")
        XCTAssertEqual(childExec.requested, "/bin/true")
        XCTAssertEqual(childExec.ppid, r.pid)
        let exit = try XCTUnwrap(one(r, .exit) { $0.pid == r.pid })
        XCTAssertEqual(exit.exitCode, 7)
        XCTAssertNil(exit.signal)
        for e in r.events {
            XCTAssertEqual(e.session, r.session)
            XCTAssertGreaterThan(e.time, 0)
            XCTAssertFalse(e.comm.isEmpty)
        }
    }

    func testExitBySignal() throws {
        let r = try ops(["raise", "9"])
        XCTAssertEqual(r.status, 128 + 9)
        XCTAssertEqual(one(r, .exit)?.signal, 9)
    }

    func testFailedExecIsReportedWithItsError() throws {
        let r = try ops(["exec", "no-such-binary-xyz", "--", "exit", "0"], cwd: scratch)
        let e = try XCTUnwrap(one(r, .exec) { $0.result < 0 })
        XCTAssertEqual(e.result, -Int64(ENOENT))
        XCTAssertEqual(e.path, scratch + "/no-such-binary-xyz")
        XCTAssertEqual(e.requested, "no-such-binary-xyz")
    }

    func testArgvIsBoundedAndFlaggedWhenTruncated() throws {
        let long = String(repeating: "a", count: 3000)
        let r = try ops(["spawn", "/bin/echo", long, long, "--"])
        let e = try XCTUnwrap(one(r, .exec) { $0.path == "/usr/bin/echo" })
        XCTAssertTrue(e.argvTruncated)
        XCTAssertEqual(e.argv?.first, "/bin/echo")
        let r2 = try ops(["spawn", "/bin/echo", "short", "--"])
        let e2 = try XCTUnwrap(one(r2, .exec) { $0.path == "/usr/bin/echo" })
        XCTAssertFalse(e2.argvTruncated)
        XCTAssertEqual(e2.argv, ["/bin/echo", "short"])
    }

    func testSetsidSetuidSetgidCapset() throws {
        // the launched root leads a process group of its own (as a shell's job does), and a
        // group leader may not setsid: a child of it does, as a daemon would
        let r = try ops(["spawn", KernelHarness.testops, "setsid", "--", "capset", "setgid", "0", "setresuid", "-1", "0", "-1", "setuid", "0"])
        let setsid = try XCTUnwrap(one(r, .setsid))
        XCTAssertNotEqual(setsid.pid, r.pid)
        XCTAssertEqual(setsid.result, Int64(setsid.pid), "a new session's id is its leader's pid")
        let su = r.of(.setuid)
        XCTAssertEqual(su.map(\.idCall), ["setresuid", "setuid"])
        XCTAssertEqual(su.first?.ids, [-1, 0, -1])
        XCTAssertEqual(su.last?.ids?.first, 0)
        XCTAssertEqual(one(r, .setgid)?.ids?.first, 0)
        let cap = try XCTUnwrap(one(r, .capset))
        XCTAssertEqual(cap.result, 0)
        XCTAssertEqual((cap.capEffective ?? 0) & (1 << 13), 0, "CAP_NET_RAW was dropped from the effective set")
        XCTAssertNotEqual((cap.capPermitted ?? 0) & (1 << 13), 0)
    }

    func testFailedSetuidKeepsItsError() throws {
        // nobody (65534) cannot become root again: the second setuid fails with EPERM
        let r = try ops(["setresuid", "65534", "65534", "0", "setresuid", "65534", "65534", "65534", "setuid", "0"])
        let calls = r.of(.setuid)
        XCTAssertEqual(calls.count, 3)
        XCTAssertEqual(calls[0].result, 0)
        XCTAssertEqual(calls[0].euid, 65534, "credentials are read after the call")
        XCTAssertEqual(calls[2].result, -Int64(EPERM))
    }

    // MARK: file

    func testOpenFlagsAndFailedAttempt() throws {
        let f = scratch + "/f"
        let r = try ops(["open", f, "wct", "open", f, "rwa", "open", scratch + "/missing", "r"])
        let opens = r.of(.open).filter { $0.path?.hasPrefix(scratch) == true }
        XCTAssertEqual(opens.count, 3)
        XCTAssertEqual(opens[0].path, f)
        XCTAssertEqual(opens[0].flags.map(OpenFlags.names), ["write", "create", "truncate"])
        XCTAssertTrue(opens[0].isWriteOpen)
        XCTAssertEqual(opens[0].mode, 0o644)
        XCTAssertEqual(opens[1].flags.map(OpenFlags.names), ["read", "write", "append"])
        XCTAssertEqual(opens[2].result, -Int64(ENOENT))
        XCTAssertEqual(opens[2].path, scratch + "/missing")
    }

    func testPathsAreResolvedByTheKernel() throws {
        try FileManager.default.createDirectory(atPath: scratch + "/d/sub", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: scratch + "/d/target", contents: Data("x".utf8))
        try FileManager.default.createSymbolicLink(atPath: scratch + "/d/link", withDestinationPath: "target")
        let r = try ops([
            "open", "d/target", "r",                 // relative to the cwd
            "open", "d/sub/../target", "r",          // with ..
            "openat", scratch + "/d", "target",      // relative to a dirfd
            "open", scratch + "/d/link", "r",        // through a symlink
            "openat2", "d/target",
        ], cwd: scratch)
        let opens = r.of(.open).filter { $0.path?.hasPrefix(scratch) == true }
        XCTAssertEqual(opens.count, 6, opens.map(EventJSON.encode).joined(separator: "\n")) // openat's dirfd open + 5
        let target = scratch + "/d/target"
        XCTAssertEqual(opens.filter { $0.path == target }.count, 5)
        XCTAssertEqual(opens.compactMap(\.requested), ["d/target", "d/sub/../target", "target", scratch + "/d/link", "d/target"])
    }

    /// Names short enough to live inside the dentry are copied one way, longer ones
    /// another: both, at the boundary and well past it, come back whole.
    func testPathsWithShortAndLongNames() throws {
        let names = ["a", String(repeating: "s", count: 31), String(repeating: "b", count: 39),
                     String(repeating: "c", count: 40), String(repeating: "l", count: 200)]
        let dir = scratch + "/" + names.dropLast().joined(separator: "/")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/" + names.last!
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let r = try ops(["open", file, "r"], cwd: scratch)
        // the resolved path equals what was asked for, so `requested` is left out
        let opens = r.of(.open).filter { $0.path?.hasPrefix(scratch) == true }
        XCTAssertEqual(opens.map(\.path), [file], r.of(.open).map(EventJSON.encode).joined(separator: "\n"))
        XCTAssertEqual(opens.first?.pathIncomplete, false)
    }

    func testPathOnlyCallsResolveAgainstCwdAndDirfd() throws {
        let d = scratch + "/d"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: d + "/a", contents: Data())
        FileManager.default.createFile(atPath: d + "/gone", contents: Data())
        let r = try ops([
            "rename", "d/a", "d/b",
            "renameat2", "d/b", "d/c",
            "link", "d/c", "d/hard",
            "symlink", "c", "d/soft",
            "unlinkat", d, "gone",
            "mkdir", "d/newdir",
            "rmdir", "d/newdir",
            "chmod", "d/c", "4755",
            "fchmod", "d/c", "644",
            "chown", "d/c", "0", "0",
            "truncate", "d/c", "5",
            "ftruncate", "d/c", "1",
            "mkfifo", "d/fifo",
            "unlink", "d/../d/hard",
        ], cwd: scratch)
        let rn = r.of(.rename)
        XCTAssertEqual(rn.count, 2)
        XCTAssertEqual(rn[0].path, d + "/a")
        XCTAssertEqual(rn[0].newPath, d + "/b")
        XCTAssertEqual(rn[0].requested, "d/a")
        XCTAssertEqual(rn[1].flags, 1, "RENAME_NOREPLACE")
        XCTAssertEqual(one(r, .link)?.newPath, d + "/hard")
        XCTAssertEqual(one(r, .link)?.path, d + "/c")
        let sym = try XCTUnwrap(one(r, .symlink))
        XCTAssertEqual(sym.path, d + "/soft")
        XCTAssertEqual(sym.linkTarget, "c")
        let unlinks = r.of(.unlink)
        XCTAssertEqual(unlinks.map(\.path), [d + "/gone", d + "/hard"])
        XCTAssertEqual(unlinks[0].requested, "gone")
        XCTAssertEqual(unlinks[1].requested, "d/../d/hard")
        XCTAssertEqual(one(r, .mkdir)?.path, d + "/newdir")
        XCTAssertEqual(one(r, .mkdir)?.mode, 0o755)
        XCTAssertEqual(one(r, .rmdir)?.path, d + "/newdir")
        let chmods = r.of(.chmod)
        XCTAssertEqual(chmods.map(\.path), [d + "/c", d + "/c"])
        XCTAssertEqual(chmods.map(\.mode), [0o4755, 0o644], "the setuid bit is reported")
        XCTAssertEqual(one(r, .chown)?.owner, 0)
        XCTAssertEqual(r.of(.truncate).map(\.length), [5, 1])
        XCTAssertEqual(r.of(.truncate).map(\.path), [d + "/c", d + "/c"])
        let mknod = try XCTUnwrap(one(r, .mknod))
        XCTAssertEqual(mknod.path, d + "/fifo")
        XCTAssertEqual((mknod.mode ?? 0) & 0o170000, 0o010000, "S_IFIFO")
        for e in r.events where e.kind != .exec && e.kind != .fork && e.kind != .exit {
            XCTAssertEqual(e.result >= 0, true, "\(EventJSON.encode(e)) should have succeeded")
        }
    }

    func testThreadEventsCarryThreadAndProcessIds() throws {
        let f = scratch + "/t"
        FileManager.default.createFile(atPath: f, contents: Data())
        let r = try ops(["thread-open", f])
        let e = try XCTUnwrap(one(r, .open) { $0.path == f })
        XCTAssertEqual(e.pid, r.pid)
        XCTAssertNotEqual(e.tid, r.pid)
        XCTAssertTrue(r.of(.fork).isEmpty, "a thread is not a fork")
    }

    // MARK: network

    func testNetworkEvents() throws {
        let sock = scratch + "/s.sock"
        let r = try ops([
            "listen4", "127.0.0.1", "0",
            "connect4", "127.0.0.1", "9",
            "connect6", "::1", "9",
            "connect-unix", sock,
            "connect-unix", "@tether-abstract",
            "sendto4", "127.0.0.1", "9",
            "sendmsg4", "127.0.0.2", "10",
        ])
        let bind = try XCTUnwrap(one(r, .bind))
        XCTAssertEqual(bind.family, .inet)
        XCTAssertEqual(bind.addr, "127.0.0.1")
        let listen = try XCTUnwrap(one(r, .listen))
        XCTAssertEqual(listen.family, .inet)
        XCTAssertEqual(listen.addr, "127.0.0.1")
        XCTAssertNotEqual(listen.port, 0, "the kernel-assigned port")
        let connects = r.of(.connect)
        XCTAssertEqual(connects.count, 4)
        XCTAssertEqual(connects[0].family, .inet)
        XCTAssertEqual(connects[0].addr, "127.0.0.1")
        XCTAssertEqual(connects[0].port, 9)
        XCTAssertEqual(connects[0].result, -Int64(ECONNREFUSED))
        XCTAssertEqual(connects[1].family, .inet6)
        XCTAssertEqual(connects[1].addr, "::1")
        XCTAssertEqual(connects[2].family, .unix)
        XCTAssertEqual(connects[2].addr, sock)
        XCTAssertEqual(connects[3].addr, "@tether-abstract")
        let sends = r.of(.sendto)
        XCTAssertEqual(sends.count, 2)
        XCTAssertEqual(sends[0].addr, "127.0.0.1")
        XCTAssertEqual(sends[0].port, 9)
        XCTAssertEqual(sends[1].addr, "127.0.0.2")
        XCTAssertEqual(sends[1].port, 10)
        XCTAssertEqual(sends[1].result, 2)
    }

    // MARK: privileged

    func testPrivilegedEvents() throws {
        let mnt = scratch + "/mnt"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let r = try ops([
            "ptrace-child",
            "unshare-ns", "setns",
            "mount-tmpfs", mnt, "umount", mnt,
            "chroot", "/nonexistent-root",
            "pivot_root", scratch, mnt,
            "fsopen", "tmpfs", "open_tree", mnt,
            "init_module", "bpf",
            "memfd", "tether-memfd",
            "io_uring",
            "tgkill-self", "pidfd-kill-child",
        ])
        let pt = r.of(.ptrace)
        XCTAssertTrue(pt.contains { $0.request == 16 && $0.result == 0 }, "PTRACE_ATTACH") // PTRACE_ATTACH = 16
        XCTAssertTrue(pt.allSatisfy { $0.target != nil && $0.target != 0 })
        let un = try XCTUnwrap(one(r, .unshare))
        XCTAssertEqual(NamespaceFlags.names(un.flags ?? 0).sorted(), ["mnt", "uts"])
        XCTAssertEqual(one(r, .setns)?.flags, 0x00020000)
        let m = try XCTUnwrap(one(r, .mount) { $0.fstype == "tmpfs" })
        XCTAssertEqual(m.path, mnt)
        XCTAssertEqual(m.source, "tetherfs")
        XCTAssertEqual(m.result, 0)
        XCTAssertEqual(one(r, .umount)?.path, mnt)
        XCTAssertEqual(one(r, .chroot)?.path, "/nonexistent-root")
        XCTAssertEqual(one(r, .chroot)?.result, -Int64(ENOENT))
        let pr = try XCTUnwrap(one(r, .pivotRoot))
        XCTAssertEqual(pr.path, scratch)
        XCTAssertEqual(pr.newPath, mnt)
        XCTAssertLessThan(pr.result, 0)
        XCTAssertTrue(r.of(.mountAPI).contains { $0.op == "fsopen" && $0.fstype == "tmpfs" })
        XCTAssertTrue(r.of(.mountAPI).contains { $0.op == "open_tree" && $0.path == mnt })
        let mod = try XCTUnwrap(one(r, .module))
        XCTAssertEqual(mod.op, "init_module")
        XCTAssertEqual(mod.params, "tether=1")
        XCTAssertLessThan(mod.result, 0)
        XCTAssertEqual(one(r, .bpf)?.command, 5)
        XCTAssertEqual(one(r, .memfd)?.name, "tether-memfd")
        XCTAssertEqual(one(r, .ioUring)?.entries, 4)
        let kills = r.of(.kill)
        XCTAssertTrue(kills.contains { $0.via == "tgkill" && $0.target == r.pid && $0.signal == 0 })
        let pidfd = try XCTUnwrap(kills.first { $0.via == "pidfd_send_signal" })
        XCTAssertEqual(pidfd.signal, 9)
        let child = try XCTUnwrap(r.of(.fork).last?.target)
        XCTAssertEqual(pidfd.target, child, "the pidfd is resolved to the pid behind it")
    }

    func testKillTargetAndSignal() throws {
        let r = try ops(["kill", "1", "0"])
        let e = try XCTUnwrap(one(r, .kill))
        XCTAssertEqual(e.target, 1)
        XCTAssertEqual(e.signal, 0)
        XCTAssertEqual(e.via, "kill")
    }

    /// io_uring's requests that make or move a name, read at submission: each is the record
    /// its syscall would make (paths resolved against the cwd as the kernel resolves them),
    /// numbered TE_SYSCALL_URING | opcode, with no outcome (result 0).
    func testIoUringRequestsAreTheirSyscallsRecords() throws {
        let d = scratch + "/d"
        let r = try ops([
            "uring-path", "mkdir", "d",
            "uring-write", "d/f", "x",
            "uring-path", "symlink", "f", "d/soft",
            "uring-path", "link", "d/f", "d/hard",
            "uring-rename", "d/hard", "d/moved",
            "uring-path", "unlink", "d/f",
        ], cwd: scratch)
        let ring = r.events.filter { $0.ioUringOp != nil }
        XCTAssertEqual(ring.map(\.kind), [.mkdir, .open, .symlink, .link, .rename, .unlink], "\(ring.map(\.kind))")
        XCTAssertEqual(ring.map(\.ioUringOp), [37, 18, 38, 39, 35, 36])
        XCTAssertTrue(ring.allSatisfy { $0.result == 0 }, "no outcome at submission")
        XCTAssertEqual(ring[0].path, d)
        XCTAssertEqual(ring[1].path, d + "/f")
        XCTAssertEqual(ring[1].requested, "d/f")
        XCTAssertEqual((ring[1].flags ?? 0) & OpenFlags.create, OpenFlags.create)
        XCTAssertEqual(ring[2].path, d + "/soft")
        XCTAssertEqual(ring[2].linkTarget, "f")
        XCTAssertEqual(ring[3].path, d + "/f")
        XCTAssertEqual(ring[3].newPath, d + "/hard")
        XCTAssertEqual(ring[4].path, d + "/hard")
        XCTAssertEqual(ring[4].newPath, d + "/moved")
        XCTAssertEqual(ring[5].path, d + "/f")
        XCTAssertTrue(FileManager.default.fileExists(atPath: d + "/moved"), "the requests ran")
    }
}
