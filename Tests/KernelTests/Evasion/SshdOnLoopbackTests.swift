import Foundation
import XCTest

/// Evasion tier, class 5 (leaving the session through a deputy). Technique: log in to this
/// very host over loopback (sshd's port 22), where loopback is allowed every port: whatever
/// key or password the agent holds, the shell sshd starts for it is not a member of the
/// session. ATT&CK T1021.004 (Remote Services: SSH), T1559.
/// The kernel cannot name a TCP listener at the connect, so the port on an address of this
/// host is the finding; where the rule acts the egress guard refuses it (EPERM) before a
/// byte is sent. A listener of the test's own stands in for sshd when none runs here.
final class SshdOnLoopbackTests: TetherRunTestCase {
    func testSshdsPortOnLoopbackIsFoundAndRefused() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(22).bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let err = errno
        // a running sshd holds the port: then the connect reaches it, which is the technique
        XCTAssertTrue(bound == 0 || err == EADDRINUSE, "binding 127.0.0.1:22: errno \(err)")
        if bound == 0 { XCTAssertEqual(listen(listener, 8), 0) }

        let cmd = "\(KernelHarness.testops) connect-errno 127.0.0.1 22 > out.txt"
        let watched = try run(cmd, mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.deputy" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["severity"] as? String, "critical")
        XCTAssertTrue((f["message"] as? String ?? "").contains("sshd's port on this host (127.0.0.1:22)"), "\(f)")
        XCTAssertEqual(try String(contentsOfFile: dir + "/out.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), "connect 0",
                       "monitor mode refuses nothing")

        let enforced = try run(cmd, mode: "enforce", confined: false)
        XCTAssertTrue(enforced.rules.contains("escape.deputy"), "\(enforced.rules) \(enforced.stderr)")
        XCTAssertEqual(try String(contentsOfFile: dir + "/out.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), "connect \(EPERM)",
                       "the kernel must refuse the connect: \(enforced.stderr)")
    }
}
