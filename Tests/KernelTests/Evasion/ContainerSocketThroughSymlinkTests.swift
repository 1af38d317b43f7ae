import Foundation
import XCTest

/// Evasion tier, class 5 (leaving the session through a deputy). Technique: reach the
/// container runtime's API, a root deputy that starts whatever container it is asked to,
/// through a symlink with an innocent name (`./d` → docker.sock), so the socket path in
/// the connect names nothing a rule knows. ATT&CK T1611 (Escape to Host), T1559
/// (Inter-Process Communication).
/// The path the kernel followed is resolved on the host when the connect arrives.
final class ContainerSocketThroughSymlinkTests: TetherRunTestCase {
    func testTheRuntimeSocketReachedThroughASymlinkIsFound() throws {
        // a stand-in for the runtime's socket, listening (short: sun_path holds 108 bytes)
        let runDir = "/tmp/tev-\(getpid())"
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        cleanup.append(runDir)
        let socketPath = runDir + "/docker.sock"
        let fd = try listenUnix(socketPath)
        defer { close(fd) }

        let script = "ln -sf \(socketPath) d; \(KernelHarness.testops) connect-unix d; touch after"
        let watched = try run(script, mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.container_socket" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["severity"] as? String, "critical")
        XCTAssertTrue((f["message"] as? String ?? "").contains(socketPath), "the finding names the socket reached: \(f)")

        // enforce (the rule kills): the session, waiting on after reaching the deputy, is
        // killed for it (the run ends when the kill lands; 60 s is only the test's budget)
        let enforced = try run(script.replacingOccurrences(of: "touch after", with: "sleep 60; touch after-enforce"), mode: "enforce", confined: false)
        let g = try XCTUnwrap(enforced.findings.first { $0["rule"] as? String == "escape.container_socket" }, "\(enforced.rules) \(enforced.stderr)")
        XCTAssertEqual(g["enforced"] as? Bool, true, "\(g)")
        XCTAssertTrue((g["outcome"] as? String ?? "").contains("killed"), "\(g)")
        XCTAssertEqual(enforced.status, 128 + 9, enforced.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after-enforce"), "the session ran on: \(enforced.stderr)")
    }

    func listenUnix(_ path: String) throws -> Int32 {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: a.sun_path) else { close(fd); throw POSIXError(.ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &a.sun_path) { raw in raw.copyBytes(from: bytes) }
        let ok = withUnsafePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 && listen(fd, 16) == 0 }
        }
        guard ok else { close(fd); throw POSIXError(.EADDRINUSE) }
        return fd
    }
}
