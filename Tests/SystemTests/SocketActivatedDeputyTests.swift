import Foundation
import TetherCore
import TetherExport
import XCTest

/// Evasion class 5, a deputy the service manager starts (ATT&CK T1559, inter-process
/// communication; T1569.002, service execution): systemd listens on a `.socket` unit's
/// sockets itself and starts the service only when a connection arrives, so before that no
/// process runs the deputy's executable and no socket is held by one. A member that
/// connects has a shell run for it as root, outside the session (a shell of its own, and a
/// script the policy names with its interpreter). tetherd asks the real
/// systemd (PID 1 of a container) which socket starts which executable: the TCP port is a
/// deputy's from the start (refused where escape.deputy acts), and the unix socket is known
/// to the kernel by its file, whose connect names the deputy through the manager.
final class SocketActivatedDeputyTests: XCTestCase {
    var c: Container!

    static let policy = """
    deputies:
      - /usr/local/sbin/jobd
      - {interpreter: /usr/bin/dash, script: /usr/local/lib/jobs.sh}
    agents:
      - name: test-agent
        match:
          exe: ["/usr/local/bin/tether-agent"]
      - name: enforced
        mode: enforce
        match:
          exe: ["/usr/local/bin/enforced-agent"]
    """

    override func tearDown() {
        c?.shutdown()
        c = nil
    }

    func alerts() -> [AlertRecord] {
        c.read("/var/log/tether/alerts.jsonl").split(separator: "\n").compactMap { try? AlertJSON.decode(String($0)) }
    }

    /// A TCP port no process of this host listens on now (the container shares the host's
    /// network).
    func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw System.Failure(description: "no free port: \(String(cString: strerror(errno)))") }
        return UInt16(bigEndian: a.sin_port)
    }

    func testAConnectToASocketTheServiceManagerHoldsForADeputyIsEscapeDeputy() throws {
        let port = try freePort()
        c = try Container(test: name) { root in
            try SocketActivatedDeputyTests.policy.write(toFile: root + "/etc/tether/policy.yaml", atomically: true, encoding: .utf8)
            try "TETHERD_OPTS=\"--alerts-json /var/log/tether/alerts.jsonl --events /var/log/tether/events.jsonl\"\n"
                .write(toFile: root + "/etc/default/tetherd", atomically: true, encoding: .utf8)
            // jobd: a shell that runs what a client sends it, as root, one per connection
            try FileManager.default.copyItem(atPath: root + "/usr/bin/dash", toPath: root + "/usr/local/sbin/jobd")
            try FileManager.default.copyItem(atPath: root + "/usr/local/bin/tether-agent", toPath: root + "/usr/local/bin/enforced-agent")
            try "[Socket]\nListenStream=127.0.0.1:\(port)\nListenStream=/run/jobd.sock\nAccept=yes\n[Install]\nWantedBy=sockets.target\n"
                .write(toFile: root + "/etc/systemd/system/jobd.socket", atomically: true, encoding: .utf8)
            try "[Service]\nExecStart=-/usr/local/sbin/jobd\nStandardInput=socket\n"
                .write(toFile: root + "/etc/systemd/system/jobd@.service", atomically: true, encoding: .utf8)
            // jobs.sh: the same, a script dash runs (its executable is every dash script's)
            try "read c; eval \"$c\"\n".write(toFile: root + "/usr/local/lib/jobs.sh", atomically: true, encoding: .utf8)
            try "[Socket]\nListenStream=/run/jobs.sock\nAccept=yes\n[Install]\nWantedBy=sockets.target\n"
                .write(toFile: root + "/etc/systemd/system/jobs.socket", atomically: true, encoding: .utf8)
            try "[Service]\nExecStart=-/usr/bin/dash /usr/local/lib/jobs.sh\nStandardInput=socket\n"
                .write(toFile: root + "/etc/systemd/system/jobs@.service", atomically: true, encoding: .utf8)
            let enable = try System.run("/bin/systemctl", ["--root=\(root)", "enable", "jobd.socket", "jobs.socket"])
            guard enable.status == 0 else { throw System.Failure(description: "systemctl --root enable: \(enable.both)") }
        }
        XCTAssertTrue(System.eventually(30) { c.unit("ActiveState") == "active" }, "tetherd did not become active: \(c.journal())")
        // nothing runs jobd yet: only PID 1 holds its sockets, and tetherd found them there
        XCTAssertEqual(try c.exec("pgrep -x jobd").status, 1, "no jobd runs before a connection")
        XCTAssertTrue(System.eventually(15) {
            let j = c.journal()
            return j.contains("jobd on port \(port) (pid 1, the service manager, listening for it)") && j.contains("jobd on /run/jobd.sock")
                && j.contains("jobs.sh on /run/jobs.sock")
        }, "tetherd did not find the socket unit's deputy: \(c.journal().suffix(3000))")

        // the attack is real: what a client sends runs as root, in a process of the manager's
        let sent = try c.exec("bash -c 'echo touch /root/ran-by-jobd > /dev/tcp/127.0.0.1/\(port)'")
        XCTAssertEqual(sent.status, 0, sent.both)
        XCTAssertTrue(System.eventually(15) { access(c.root + "/root/ran-by-jobd", F_OK) == 0 }, "jobd did not run the command")

        // monitor mode: both ways in are escape.deputy, naming jobd and the manager's socket
        // (and the manager's sockets for other services are no deputy's: journald's, the bus's)
        try c.exec("/usr/local/bin/tether-agent connect-unix /run/systemd/journal/stdout connect-unix /run/dbus/system_bus_socket "
            + "connect4 127.0.0.1 \(port) connect-unix /run/jobd.sock connect-unix /run/jobs.sock")
        var found: [AlertRecord] = []
        XCTAssertTrue(System.eventually(15) {
            found = alerts().filter { $0.rule == "escape.deputy" && $0.agent == "test-agent" }
            return found.contains { $0.message.contains("127.0.0.1:\(port)") } && found.contains { $0.message.contains("/run/jobd.sock") }
                && found.contains { $0.message.contains("/run/jobs.sock") }
        }, "no escape.deputy for each connect: \(c.read("/var/log/tether/alerts.jsonl").suffix(3000))")
        XCTAssertEqual(found.count, 3, "\(found.map(\.message))")
        let tcp = try XCTUnwrap(found.first { $0.message.contains("127.0.0.1:\(port)") })
        XCTAssertTrue(tcp.message.contains("reached jobd's port on this host"), tcp.message)
        let unix = try XCTUnwrap(found.first { $0.message.contains("/run/jobd.sock") })
        XCTAssertTrue(unix.message.contains("reached jobd through the socket the service manager"), unix.message)
        let script = try XCTUnwrap(found.first { $0.message.contains("/run/jobs.sock") })
        XCTAssertTrue(script.message.contains("reached jobs.sh through the socket the service manager"), script.message)

        // enforce mode: the TCP connect is refused in the kernel (by the cgroup hooks at the
        // container's cgroup root: the agent runs as a unit of the container's systemd, as a
        // host's would; nsenter alone leaves a process in the test's own cgroup); the unix
        // connect's caller dies on its return, before it has sent a byte
        let refused = try c.exec("systemd-run --quiet --wait --pipe /usr/local/bin/enforced-agent connect-errno 127.0.0.1 \(port)")
        XCTAssertEqual(refused.out.trimmingCharacters(in: .whitespacesAndNewlines), "connect \(EPERM)", refused.both + c.journal().suffix(4000))
        let killed = try c.exec("/usr/local/bin/enforced-agent connect-unix /run/jobd.sock write /root/after-connect x")
        XCTAssertNotEqual(killed.status, 0, killed.both)
        XCTAssertFalse(access(c.root + "/root/after-connect", F_OK) == 0, "the caller lived past the connect")
        XCTAssertTrue(System.eventually(15) {
            alerts().contains { $0.rule == "escape.deputy" && $0.agent == "enforced" && $0.message.contains("/run/jobd.sock") && $0.enforced }
        }, c.read("/var/log/tether/alerts.jsonl").suffix(3000).description)
    }
}
