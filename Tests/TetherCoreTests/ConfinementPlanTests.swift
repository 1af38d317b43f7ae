import Foundation
import XCTest
@testable import TetherCore

/// The Landlock and seccomp plan compiled from a policy, against a file system made up here.
final class ConfinementPlanTests: XCTestCase {
    /// Paths that exist: directories end in "/".
    struct FakeFS: ConfinementPlan.FileSystemView {
        var paths: Set<String>
        init(_ list: [String]) {
            var all = Set<String>()
            for p in list {
                let dir = p.hasSuffix("/")
                let clean = dir ? String(p.dropLast()) : p
                all.insert(dir ? clean + "/" : clean)
                var parent = (clean as NSString).deletingLastPathComponent
                while parent != "/" && !parent.isEmpty { all.insert(parent + "/"); parent = (parent as NSString).deletingLastPathComponent }
            }
            paths = all
        }
        func kind(_ path: String) -> ConfinementPlan.Kind? {
            if path == "/" || paths.contains(path + "/") { return .directory }
            return paths.contains(path) ? .file : nil
        }
        func entries(_ dir: String) -> [String]? {
            guard kind(dir) == .directory else { return nil }
            let prefix = dir == "/" ? "/" : dir + "/"
            var out = Set<String>()
            for p in paths where p.hasPrefix(prefix) && p.count > prefix.count {
                let rest = p.dropFirst(prefix.count)
                out.insert(String(rest.split(separator: "/").first!))
            }
            return out.sorted()
        }
    }

    func agent(writable: [String], network: NetworkPolicy = NetworkPolicy()) -> AgentPolicy {
        var a = Policy.builtinDefaults
        a.mode = .enforce
        a.boundary.writable = writable
        a.boundary.network = network
        return a
    }

    func testRootsAreExpandedAndAbsentOnesSaid() {
        let fs = FakeFS(["/tmp/", "/home/u/.cache/", "/home/u/.aider.conf", "/home/u/.aider.hist", "/ws/"])
        let plan = ConfinementPlan.compile(agent(writable: ["/tmp", "~/.cache", "~/.aider*", "~/.npm", "/run/user/$UID"]),
                                           workspace: "/ws", homes: ["/home/u"], uid: 1000, fs: fs)
        XCTAssertEqual(Set(plan.writable), ["/ws", "/tmp", "/home/u/.cache", "/home/u/.aider.conf", "/home/u/.aider.hist"])
        XCTAssertEqual(Set(plan.absent), ["/home/u/.npm", "/run/user/1000"])
        XCTAssertTrue(plan.landlock)
        XCTAssertEqual(plan.refusedSyscalls, ConfinementPolicy.refusedByDefault)
    }

    /// A workspace that is the home itself: everything in it stays writable except the
    /// persistence locations, which get no rule (and the home no right to make new entries).
    func testARootHoldingPersistenceLocationsIsCarvedAroundThem() {
        let fs = FakeFS(["/home/u/.bashrc", "/home/u/notes.txt", "/home/u/src/main.c", "/home/u/.ssh/authorized_keys",
                         "/home/u/.ssh/known_hosts", "/home/u/.ssh/config", "/home/u/.config/systemd/user/x.service", "/home/u/.config/git/config"])
        let plan = ConfinementPlan.compile(agent(writable: []), workspace: "/home/u", homes: ["/home/u"], uid: 1000, fs: fs)
        XCTAssertEqual(plan.carved, ["/home/u"])
        XCTAssertTrue(plan.writable.contains("/home/u/notes.txt"))
        XCTAssertTrue(plan.writable.contains("/home/u/src"))
        XCTAssertTrue(plan.writable.contains("/home/u/.ssh/known_hosts"))
        XCTAssertTrue(plan.writable.contains("/home/u/.config/git"))
        for p in ["/home/u", "/home/u/.bashrc", "/home/u/.ssh", "/home/u/.ssh/authorized_keys", "/home/u/.ssh/config", "/home/u/.config",
                  "/home/u/.config/systemd", "/home/u/.config/systemd/user"] {
            XCTAssertFalse(plan.writable.contains(p), "\(p) must not be writable")
        }
        XCTAssertFalse(plan.writable.contains { $0.hasPrefix("/home/u/.config/systemd") }, "\(plan.writable)")
    }

    func testCarvingOverTheBudgetAllowsNothingThere() {
        var files = (0...ConfinementPlan.ruleBudget).map { "/big/f\($0)" }
        files.append("/big/.bashrc")
        let plan = ConfinementPlan.compile(agent(writable: []), workspace: "/big", homes: ["/big"], uid: 0, fs: FakeFS(files))
        XCTAssertEqual(plan.overBudget, ["/big"])
        XCTAssertTrue(plan.writable.isEmpty)
    }

    func testConnectPortsOnlyWhereEveryDestinationNamesPorts() {
        let fs = FakeFS(["/ws/"])
        let cidr = try! CIDR("0.0.0.0/0")
        var p = ConfinementPlan.compile(agent(writable: []), workspace: "/ws", homes: [], uid: 0, fs: fs)
        XCTAssertNil(p.connectPorts) // the defaults: loopback on every port
        XCTAssertTrue(p.connectNote.contains("loopback"))
        let strict = NetworkPolicy(allowLoopback: false, allow: [NetworkAllow(cidrs: [cidr], ports: [PortRange(443, 443), PortRange(8000, 8002)])])
        p = ConfinementPlan.compile(agent(writable: [], network: strict), workspace: "/ws", homes: [], uid: 0, fs: fs)
        XCTAssertEqual(p.connectPorts, [443, 8000, 8001, 8002])
        let open = NetworkPolicy(allowLoopback: false, allow: [NetworkAllow(cidrs: [cidr])])
        p = ConfinementPlan.compile(agent(writable: [], network: open), workspace: "/ws", homes: [], uid: 0, fs: fs)
        XCTAssertNil(p.connectPorts)
        XCTAssertTrue(p.connectNote.contains("no port list"))
    }

    func testPolicyConfineSection() throws {
        let p = try Policy.parse("""
        version: 1
        defaults:
          confine:
            scope_abstract_unix: false
            allow_syscalls: [io_uring_setup, io_uring_enter, io_uring_register]
        agents:
          - name: dbg
            match: {comm: [dbg]}
            confine: {refuse_syscalls: [ptrace, bpf], landlock: false}
        """, file: "c.yaml")
        XCTAssertFalse(p.defaults.confine.scopeAbstractUnix)
        XCTAssertFalse(p.defaults.confine.refusedSyscalls.contains("io_uring_setup"))
        XCTAssertTrue(p.defaults.confine.refusedSyscalls.contains("bpf"))
        XCTAssertEqual(p.agents[0].confine.refusedSyscalls, ["ptrace", "bpf"])
        XCTAssertFalse(p.agents[0].confine.landlock)
        XCTAssertFalse(p.agents[0].confine.scopeAbstractUnix, "inherited from the defaults")
        let plan = ConfinementPlan.compile(p.agents[0], workspace: "/ws", homes: [], uid: 0, fs: FakeFS(["/ws/"]))
        XCTAssertFalse(plan.landlock)
        XCTAssertTrue(plan.writable.isEmpty)

        XCTAssertThrowsError(try Policy.parse("defaults:\n  confine:\n    refuse_syscalls: [read]\n", file: "bad.yaml")) { e in
            XCTAssertTrue("\(e)".contains("bad.yaml:3:23") && "\(e)".contains("'read' is not a syscall Tether can refuse"), "\(e)")
        }
        XCTAssertThrowsError(try Policy.parse("defaults:\n  confine:\n    seccomp: maybe\n", file: "bad.yaml")) { e in
            XCTAssertTrue("\(e)".contains("seccomp must be true or false"), "\(e)")
        }
    }
}
