import Foundation
import XCTest

/// Evasion tier, class 7 (tampering without signals to Tether): blind the host instead of
/// Tether. Technique: SIGKILL the system logger (rsyslogd), so that what the agent does next
/// reaches no log and no remote syslog. ATT&CK T1562.001 (Impair Defenses: Disable or
/// Modify Tools). A stand-in named rsyslogd, started by the test outside the session, is the
/// target (the host's own logger stays up).
/// The kernel names the process a signal went to at the send (its executable and euid):
/// a killed daemon is gone before user space could look it up. Monitor: found, naming the
/// daemon. Confined (Landlock's signal scoping): refused, the daemon lives, and the
/// attempt is found all the same.
final class KillTheHostsLoggerTests: TetherRunTestCase {
    func testKillingTheSystemLoggerIsFoundAndRefusedWhenConfined() throws {
        let bin = "/tmp/tev-logger-\(getpid())"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        cleanup.append(bin)
        let logger = bin + "/rsyslogd"
        try FileManager.default.copyItem(atPath: URL(fileURLWithPath: "/bin/sleep").resolvingSymlinksInPath().path, toPath: logger)

        func start() throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: logger)
            p.arguments = ["600"]
            try p.run()
            return p
        }

        let watched = try start()
        defer { if watched.isRunning { watched.terminate() }; watched.waitUntilExit() }
        let r = try run("kill -9 \(watched.processIdentifier); touch after", mode: "monitor", confined: false)
        let f = try XCTUnwrap(r.findings.first { $0["rule"] as? String == "escape.tamper" }, "\(r.rules) \(r.stderr)")
        XCTAssertEqual(f["severity"] as? String, "critical")
        XCTAssertTrue((f["message"] as? String ?? "").contains("signal to system daemon \(logger) (pid \(watched.processIdentifier))"), "\(f)")
        watched.waitUntilExit()
        XCTAssertEqual(watched.terminationReason, .uncaughtSignal, "monitor mode refuses nothing")

        let confined = try start()
        defer { if confined.isRunning { confined.terminate() }; confined.waitUntilExit() }
        let c = try run("kill -9 \(confined.processIdentifier); touch after-confined", mode: "enforce", confined: true)
        let g = try XCTUnwrap(c.findings.first { $0["rule"] as? String == "escape.tamper" }, "\(c.rules) \(c.stderr)")
        XCTAssertTrue((g["message"] as? String ?? "").contains("attempt failed: EPERM"), "\(g)")
        XCTAssertTrue(confined.isRunning, "the logger was killed from a confined session: \(c.stderr)")
    }
}
