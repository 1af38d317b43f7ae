import Foundation
import XCTest

/// Evasion tier, class 3 (syscalls with no handler). Technique: reach the container
/// runtime's API (docker's 2375 on loopback) with an io_uring connect request instead of
/// connect(2), so no connect syscall names the destination. ATT&CK T1611 (Escape to Host),
/// T1562.006 (Impair Defenses: Indicator Blocking).
/// The request is read at submission from the kernel's copy of its address: monitor mode
/// finds the destination (escape.container_socket, marked as an io_uring request); the
/// egress guard's cgroup hook judges the connect itself when it runs, so enforce mode
/// refuses it before a byte is sent. A listener of the test's own on the port tells
/// whether a connection arrived (however soon the session is ended after).
final class ConnectThroughIoUringTests: TetherRunTestCase {
    func testAConnectThroughARingIsFoundAndRefused() throws {
        let (listener, _, err) = loopbackSocket(Int32(SOCK_STREAM.rawValue), port: 2375)
        defer { close(listener) }
        XCTAssertEqual(err, 0, "binding 127.0.0.1:2375")
        /// Takes the connection that arrived, if one did.
        func arrived() -> Bool {
            let c = accept(listener, nil, nil)
            if c >= 0 { close(c) }
            return c >= 0
        }

        let cmd = "\(KernelHarness.testops) uring-connect4 127.0.0.1 2375"
        let watched = try run(cmd, mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.container_socket" }, "\(watched.rules) \(watched.stderr)")
        let message = f["message"] as? String ?? ""
        XCTAssertTrue(message.contains("docker API at 127.0.0.1:2375") && message.contains("IORING_OP_CONNECT"), "\(f)")
        XCTAssertEqual(f["severity"] as? String, "critical", "\(f)")
        XCTAssertTrue(arrived(), "monitor mode refuses nothing: the connection should have arrived")

        let enforced = try run(cmd, mode: "enforce", confined: false)
        XCTAssertTrue(enforced.rules.contains("escape.container_socket"), "\(enforced.rules) \(enforced.stderr)")
        XCTAssertFalse(arrived(), "enforce: the kernel must refuse the connect: \(enforced.stderr)")
    }
}
