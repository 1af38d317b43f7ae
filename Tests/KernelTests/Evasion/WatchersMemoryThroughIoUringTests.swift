import Foundation
import XCTest

/// Evasion tier, class 7 (tampering without signals). Technique: open the watcher's memory,
/// `/proc/$PPID/mem`, read-write with an io_uring request, where the tamper guard matched
/// the opened file's proc inode at the open syscall's exit (a ring's open has none); and
/// the same through one of the watcher's thread ids, `/proc/TID/mem`, which names no
/// process a pid list holds; and through a symlink of the agent's own to `/proc/$PPID`, whose
/// path names nothing of Tether's. ATT&CK T1055.009 (Proc Memory), T1562.001.
/// The request's path is the kernel's own copy, read at submission: "/proc/N/…" with N a
/// thread of Tether's is the tamper guard's (the caller dies on its return from
/// io_uring_enter, before it writes a byte through what it opened). Any other spelling is
/// judged at the request's completion by the file it opened, as an open syscall's is at its
/// exit: its proc inode is one of Tether's processes.
final class WatchersMemoryThroughIoUringTests: TetherRunTestCase {
    func testOpeningTheWatchersMemThroughARingIsTampering() throws {
        // $PPID is tether run: by its pid, and by a thread of it that is not its main one
        let byPid = "\(KernelHarness.testops) uring-open /proc/$PPID/mem rw > out.txt"
        let byTid = "tid=$(ls /proc/$PPID/task | grep -vx $PPID | head -1); [ -n \"$tid\" ] && \(KernelHarness.testops) uring-open /proc/$tid/mem rw > out.txt"
        let bySymlink = "ln -sfn /proc/$PPID w && \(KernelHarness.testops) uring-open w/mem rw > out.txt"
        // the same into a direct descriptor (the ring's own table, not the fd table)
        let direct = "ln -sfn /proc/$PPID w && \(KernelHarness.testops) uring-open-direct w/mem rw > out.txt"
        for (what, cmd) in [("pid", byPid), ("thread id", byTid), ("symlink", bySymlink), ("symlink, direct descriptor", direct)] {
            for mode in ["monitor", "enforce"] {
                try? FileManager.default.removeItem(atPath: dir + "/out.txt")
                let r = try run(cmd, mode: mode, confined: false)
                let f = try XCTUnwrap(r.findings.first { $0["rule"] as? String == "escape.tamper" }, "\(what), \(mode): \(r.rules) \(r.stderr)")
                XCTAssertTrue((f["message"] as? String ?? "").contains("through /proc"), "\(f)")
                XCTAssertEqual(f["severity"] as? String, "critical", "\(f)")
                let out = (try? String(contentsOfFile: dir + "/out.txt", encoding: .utf8)) ?? ""
                if mode == "enforce" {
                    XCTAssertTrue((f["outcome"] as? String ?? "").contains("the kernel already killed the offender"), "\(what): \(f)")
                    XCTAssertEqual(out, "", "\(what): the caller ran on past io_uring_enter")
                } else {
                    XCTAssertTrue(out.hasPrefix("uring-open"), "\(what): monitor mode acts on nothing: \(out) \(r.stderr)")
                }
            }
        }
    }
}
