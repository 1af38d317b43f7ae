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
        try assertConnectFoundAndRefused(port: 2375, rule: "escape.container_socket", naming: "docker API at 127.0.0.1:2375")
    }
}
