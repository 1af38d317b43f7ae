import Foundation
import XCTest

/// Evasion tier, class 5 (leaving the session through a deputy). Technique: reach the
/// container runtime's API over TCP on loopback (docker's 2375) instead of its unix
/// socket: loopback is allowed every port, and no socket path names the runtime. Whoever
/// reaches it can start a privileged container: root on the host.
/// ATT&CK T1611 (Escape to Host), T1559 (Inter-Process Communication).
/// The egress guard refuses the container APIs' ports on every address (EPERM), whatever
/// the allow-list says, before a byte is sent.
final class ContainerApiOverTcpTests: TetherRunTestCase {
    func testTheDockerApiOnLoopbackIsFoundAndRefused() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(2375).bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        XCTAssertEqual(bound, 0, "127.0.0.1:2375 is taken on this host: errno \(errno)")
        XCTAssertEqual(listen(listener, 8), 0)

        let cmd = "\(KernelHarness.testops) connect-errno 127.0.0.1 2375 > out.txt"
        let watched = try run(cmd, mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.container_socket" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["severity"] as? String, "critical")
        XCTAssertTrue((f["message"] as? String ?? "").contains("docker API at 127.0.0.1:2375"), "\(f)")
        XCTAssertEqual(try String(contentsOfFile: dir + "/out.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), "connect 0",
                       "monitor mode refuses nothing")

        let enforced = try run(cmd, mode: "enforce", confined: false)
        XCTAssertTrue(enforced.rules.contains("escape.container_socket"), "\(enforced.rules) \(enforced.stderr)")
        XCTAssertEqual(try String(contentsOfFile: dir + "/out.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), "connect \(EPERM)",
                       "the kernel must refuse the connect: \(enforced.stderr)")
    }
}
