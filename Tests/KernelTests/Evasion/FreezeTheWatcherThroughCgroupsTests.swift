import Foundation
import XCTest

/// Evasion tier, class 7 (tampering without signals). Technique: move the watcher into a
/// cgroup of the agent's own through `cgroup.procs`, where `cgroup.freeze` (or v1's
/// `freezer.state`, or `cgroup.kill`) stops or kills it with no signal, no ptrace, nothing
/// aimed at its pid. Monitor mode only moves it into a cgroup that stays thawed.
/// ATT&CK T1562.001 (Impair Defenses: Disable or Modify Tools).
/// A member's write-open of a cgroup control file is tamper-guarded in the kernel: the
/// caller dies on its return from open(2), before the pid is written.
final class FreezeTheWatcherThroughCgroupsTests: TetherRunTestCase {
    func testMovingTheWatcherBetweenCgroupsIsTampering() throws {
        let mounts = try String(contentsOfFile: "/proc/mounts", encoding: .utf8)
        let v2 = try XCTUnwrap(mounts.split(separator: "\n").map { $0.split(separator: " ") }.first { $0.count > 2 && $0[2] == "cgroup2" }?[1],
                               "no cgroup2 hierarchy on this host")
        // the cgroup is made beforehand: making one is escape.kernel_tunables, whose stop
        // would race the write this test is about
        let cgroup = "\(v2)/tev-\(getpid())"
        XCTAssertEqual(mkdir(cgroup, 0o755), 0, String(cString: strerror(errno)))
        defer { rmdir(cgroup) } // empty once tether run has exited
        try assertTamperEndsTheCaller("echo $PPID > \(cgroup)/cgroup.procs", message: "cgroup control file")
    }
}
