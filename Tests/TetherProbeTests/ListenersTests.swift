import Foundation
import TetherCore
@testable import TetherProbe
import XCTest

/// Where the TCP deputies listen: read from the kernel's socket tables, and what a connect
/// reaches by it.
final class ListenersTests: XCTestCase {
    func testTheListeningRowsOfTheKernelsTableAreRead() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:08AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41234 1 0000000000000000 100 0 0 10 0
               1: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0
               2: 0100007F:A1B2 0100007F:0016 01 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 20 4 30 10 -1
               3: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 100 0 0 10 0
            """
        XCTAssertEqual(Listeners.parseListening(Array(table.utf8)), [41234: 2222, 555: 22],
                       "LISTEN rows only (an established one is not), and none without an inode")
        XCTAssertEqual(Listeners.socketInode("socket:[41234]"), 41234)
        XCTAssertNil(Listeners.socketInode("pipe:[41234]"))
        XCTAssertNil(Listeners.socketInode("/tmp/socket:[1]"))
    }

    func testAConnectReachesADeputyOnlyOnThisHost() throws {
        let host = try XCTUnwrap(IPAddress("192.0.2.2"))
        let l = Deputies.Listening(ports: [2222: .init(name: "jobd", pid: 42)], hostAddresses: [host])
        XCTAssertEqual(l.reached(try XCTUnwrap(IPAddress("127.0.0.9")), port: 2222)?.name, "jobd")
        XCTAssertEqual(l.reached(host, port: 2222)?.pid, 42)
        XCTAssertEqual(l.reached(try XCTUnwrap(IPAddress("::ffff:127.0.0.1")), port: 2222)?.name, "jobd")
        XCTAssertNil(l.reached(try XCTUnwrap(IPAddress("198.51.100.7")), port: 2222), "another host's port is that host's")
        XCTAssertEqual(l.reached(host, port: 22)?.name, "sshd", "sshd's port even when no sshd was seen")
        XCTAssertNil(l.reached(host, port: 80))
        XCTAssertEqual(l.deniedPorts(limit: 1).ports, [22])
        XCTAssertEqual(l.deniedPorts(limit: 1).over, [2222])
    }

    /// A scripted deputy's processes: the interpreter's file and an argument naming the
    /// script's file, by inode, however the argument spells it (absolute, or relative to
    /// the process's own working directory); not a copy of the script, not a member, and
    /// with the start /proc gives (the kernel's check against a reused pid).
    func testAScriptedDeputysProcessesAreFoundByTheScriptsFile() throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else { return XCTFail("python3 is installed by `make deps-test`") }
        let dir = NSTemporaryDirectory() + "tether-scripted-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let code = "import time\ntime.sleep(600)\n"
        try code.write(toFile: dir + "/jobd.py", atomically: false, encoding: .utf8)
        try code.write(toFile: dir + "/copy.py", atomically: false, encoding: .utf8)
        var started: [Process] = []
        defer { for p in started { p.terminate(); p.waitUntilExit() } }
        func start(_ args: [String]) throws -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: python)
            p.arguments = args
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            try p.run()
            started.append(p)
            return p.processIdentifier
        }
        let absolute = try start(["-u", dir + "/jobd.py"]), relative = try start(["jobd.py"])
        let copy = try start([dir + "/copy.py"]), member = try start([dir + "/jobd.py"])
        // each has exec'd python once its executable is python's (the pace is the machine's)
        let pids = [absolute, relative, copy, member]
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !pids.allSatisfy({ ProcFS.argv($0).last?.hasSuffix(".py") == true }) { usleep(10_000) }

        let found = Listeners.scriptedProcesses([(kind: 70, name: "jobd.py", interpreter: python, script: dir + "/jobd.py")],
                                                pids: pids, isMember: { $0 == member })
        XCTAssertEqual(Set(found.keys), [absolute, relative], "\(found)")
        XCTAssertEqual(found[absolute]?.kind, 70)
        XCTAssertEqual(found[absolute]?.name, "jobd.py")
        XCTAssertEqual(found[relative]?.start, ProcFS.stat(relative)?.startTicks)
        // the interpreter alone names nothing
        XCTAssertTrue(Listeners.scriptedProcesses([(kind: 70, name: "x", interpreter: python, script: dir + "/none.py")],
                                                  pids: pids, isMember: { _ in false }).isEmpty)
    }
}
