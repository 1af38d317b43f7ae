import Foundation
import XCTest

/// Evasion tier, class 5 (leaving the session through a deputy). Technique: reach a server
/// that runs commands for its clients (sshd, or a host's own job service) where a check of
/// sshd's port 22 on loopback does not look: on another port, and through an address of
/// this host's own interfaces rather than loopback. ATT&CK T1021.004 (Remote Services: SSH),
/// T1559 (Inter-Process Communication).
/// The kernel cannot name a TCP listener at the connect, so Tether finds the listening
/// sockets the deputies' executables hold (by the file the kernel runs for the holder: a
/// copy of the test driver named in the policy's `deputies:` stands in for sshd here, none
/// runs on this machine) and refuses their ports on every address of this host. Monitor:
/// found, naming the service and its pid. Enforce: the kernel refuses the connect (EPERM).
final class DeputyOnAnotherTcpPortTests: TetherRunTestCase {
    func testADeputyListeningOnAnotherPortIsFoundThroughEveryAddressOfThisHost() throws {
        let jobd = try makeJobd("tev-tcpd")
        let host = try XCTUnwrap(Self.interfaceAddress(), "this host has no IPv4 address beside loopback")

        // the service runs before the session, outside it, on every address
        let server = Process()
        server.executableURL = URL(fileURLWithPath: jobd)
        server.arguments = ["listen4-keep", "0.0.0.0", "0", "sleep-ms", "600000"] // a free port
        let out = Pipe()
        server.standardOutput = out
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        let said = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        let words = said.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        XCTAssertEqual(Array(words.prefix(2)), ["listening", "0"], "the service could not listen: \(said)")
        let port = try XCTUnwrap(words.count == 3 ? UInt16(words[2]) : nil, said)

        let policy = "deputies: [\(jobd)]\n"
        let script = """
            \(KernelHarness.testops) connect-errno 127.0.0.1 \(port) > loopback.txt
            \(KernelHarness.testops) connect-errno \(host) \(port) > host.txt
            """
        func outcome(_ f: String) -> String {
            ((try? String(contentsOfFile: dir + "/" + f, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }

        let watched = try run(script, mode: "monitor", confined: false, topLevel: policy)
        let messages = watched.findings.filter { $0["rule"] as? String == "escape.deputy" }.compactMap { $0["message"] as? String }
        for addr in ["127.0.0.1", host] {
            XCTAssertTrue(messages.contains { $0.contains("reached jobd's port on this host (\(addr):\(port), pid \(server.processIdentifier) listening)") },
                          "monitor: \(addr) not found: \(messages) \(watched.stderr)")
        }
        XCTAssertEqual(outcome("loopback.txt"), "connect 0", "monitor mode refuses nothing")
        XCTAssertEqual(outcome("host.txt"), "connect 0", "monitor mode refuses nothing")

        // one connect per run in enforce mode: the first finding ends the session
        for (addr, file) in [("127.0.0.1", "loopback.txt"), (host, "host.txt")] {
            let enforced = try run("\(KernelHarness.testops) connect-errno \(addr) \(port) > \(file)", mode: "enforce", confined: false, topLevel: policy)
            XCTAssertTrue(enforced.rules.contains("escape.deputy"), "enforce \(addr): \(enforced.rules) \(enforced.stderr)")
            XCTAssertEqual(outcome(file), "connect \(EPERM)", "enforce \(addr): the kernel must refuse the connect: \(enforced.stderr)")
        }

        // without the policy's entry the service is no deputy: its port is not judged
        let unnamed = try run(script, mode: "monitor", confined: false)
        XCTAssertFalse(unnamed.rules.contains("escape.deputy"), "\(unnamed.findings)")
    }

    /// Variant: the deputy starts listening after the session began, between two of Tether's
    /// looks at the socket tables (every 5 s), and the member connects at once. The kernel
    /// saw the listen (a process running a deputy's executable, outside every session): the
    /// port is the deputy's from that instant. Enforce: the connect is refused (EPERM);
    /// monitor: found. Once the deputy stops listening its port is free again.
    func testADeputyThatStartsListeningMidSessionIsRefusedAtOnce() throws {
        let jobd = try makeJobd("tev-tcpd-late")
        let policy = "deputies: [\(jobd)]\n"
        // the member says it runs (so the guards are in), then waits for the deputy to listen
        let script = """
            echo session-up >&2
            while [ ! -e go ]; do sleep 0.05; done
            \(KernelHarness.testops) connect-errno 127.0.0.1 $(cat port) > out.txt
            """
        var server: Process?
        var port = ""
        defer { server?.terminate(); server?.waitUntilExit() }
        func startDeputy() {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: jobd)
            p.arguments = ["listen4-keep", "127.0.0.1", "0", "sleep-ms", "600000"] // a free port, outside the session
            let out = Pipe()
            p.standardOutput = out
            guard (try? p.run()) != nil else { return }
            server = p
            let words = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).split(separator: " ")
            port = words.count == 3 ? words[2].trimmingCharacters(in: .whitespacesAndNewlines) : ""
            try? port.write(toFile: dir + "/port", atomically: true, encoding: .utf8)
            FileManager.default.createFile(atPath: dir + "/go", contents: Data())
        }
        func outcome() -> String {
            ((try? String(contentsOfFile: dir + "/out.txt", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func reset() { for f in ["go", "port", "out.txt"] { try? FileManager.default.removeItem(atPath: dir + "/" + f) } }

        reset()
        let enforced = try run(script, mode: "enforce", confined: false, topLevel: policy, when: "session-up", then: startDeputy)
        XCTAssertFalse(port.isEmpty, "the deputy could not listen")
        XCTAssertEqual(outcome(), "connect \(EPERM)", "the kernel must refuse the connect: \(enforced.stderr)")
        XCTAssertTrue(enforced.rules.contains("escape.deputy"), "\(enforced.rules) \(enforced.stderr)")
        server?.terminate()
        server?.waitUntilExit()

        reset()
        // monitor: also through IPv6's loopback (nothing listens there: the attempt is the finding)
        let script6 = script + "\n\(KernelHarness.testops) connect6 ::1 $(cat port)\n"
        let watched = try run(script6, mode: "monitor", confined: false, topLevel: policy, when: "session-up", then: startDeputy)
        XCTAssertEqual(outcome(), "connect 0", "monitor mode refuses nothing")
        let messages = watched.findings.filter { $0["rule"] as? String == "escape.deputy" }.compactMap { $0["message"] as? String }
        XCTAssertTrue(messages.contains { $0.contains("127.0.0.1:\(port)") }, "\(messages) \(watched.stderr)")
        XCTAssertTrue(messages.contains { $0.contains("[::1]:\(port)") }, "\(messages)")
        server?.terminate()
        server?.waitUntilExit()

        // the deputy is gone: its port is nobody's, and nothing listens there
        reset()
        let after = try run("\(KernelHarness.testops) connect-errno 127.0.0.1 \(port) > out.txt", mode: "enforce", confined: false, topLevel: policy)
        XCTAssertEqual(outcome(), "connect \(ECONNREFUSED)", after.stderr)
        XCTAssertFalse(after.rules.contains("escape.deputy"), "\(after.findings)")
    }

    /// A host's own job service: a copy of the test driver, at /tmp/NAME-PID/jobd.
    func makeJobd(_ name: String) throws -> String {
        let bin = "/tmp/\(name)-\(getpid())"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        cleanup.append(bin)
        try FileManager.default.copyItem(atPath: KernelHarness.testops, toPath: bin + "/jobd")
        return bin + "/jobd"
    }

    /// The first IPv4 address of an interface that is up, loopback aside.
    static func interfaceAddress() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return nil }
        defer { freeifaddrs(list) }
        var cur = list
        while let i = cur {
            defer { cur = i.pointee.ifa_next }
            guard let sa = i.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET),
                  i.pointee.ifa_flags & UInt32(IFF_UP) != 0, i.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0 else { continue }
            var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            var a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            if inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count)) != nil { return String(cString: buf) }
        }
        return nil
    }
}
