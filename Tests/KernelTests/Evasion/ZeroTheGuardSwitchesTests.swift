import Foundation
import XCTest

/// Evasion tier, class 7 (tampering without signals). Technique: with a copy of tetherd's
/// map descriptors (the ways a session could take one are guarded; here the test writes
/// the pinned maps from outside, as a stolen fd would), switch the kernel's guards off
/// (`guard_config` to 0) and clear a watched process's bit in the mapped tracked bitmap,
/// so its syscalls are skipped by the fast path. ATT&CK T1562.001 (Impair Defenses).
/// tetherd re-checks what the kernel relies on every few seconds: both are put back and
/// raised as critical alerts.
final class ZeroTheGuardSwitchesTests: DaemonTestCase {
    func testSwitchedOffGuardsAndClearedBitsArePutBackAndRaised() throws {
        let pin = newPinDir()
        let (_, log) = try startDaemon([], pin: pin)
        let watched = Process() // the policy's agent: a session of its own
        watched.executableURL = URL(fileURLWithPath: agent)
        watched.arguments = ["sleep-ms", "60000"]
        try watched.run()
        defer { watched.terminate(); watched.waitUntilExit() }
        XCTAssertTrue(waitFor(10) { (try? self.sessionOf(watched.processIdentifier)) ?? nil != nil }, "the agent was not tracked: \(log())")

        func bytes(_ v: UInt32) -> [String] { withUnsafeBytes(of: v.littleEndian) { $0.map { String($0) } } }
        let word = UInt32(watched.processIdentifier) / 64
        let zeroGuards = try spawnAndWait(["/usr/sbin/bpftool", "map", "update", "pinned", pin + "/guard_config", "key"] + bytes(0) + ["value"] + bytes(0))
        XCTAssertEqual(zeroGuards.status, 0, zeroGuards.stderr)
        let clearBit = try spawnAndWait(["/usr/sbin/bpftool", "map", "update", "pinned", pin + "/tracked_bits", "key"] + bytes(word)
                                        + ["value"] + [String](repeating: "0", count: 8))
        XCTAssertEqual(clearBit.status, 0, clearBit.stderr)

        XCTAssertTrue(waitFor(30) {
            let found = self.alerts().filter { $0.rule == "tether.guard_tampered" }
            return found.contains { $0.message.contains("guard switches") } && found.contains { $0.message.contains("tracked bitmap") }
        }, "\(alerts().map(\.message)) \(log())")
        XCTAssertEqual(alerts().first { $0.rule == "tether.guard_tampered" }?.severity, .critical)

        func lookup(_ map: String, _ key: [String]) throws -> [UInt8] {
            let r = try spawnAndWait(["/usr/sbin/bpftool", "-j", "map", "lookup", "pinned", pin + "/" + map, "key"] + key)
            let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            return (o?["value"] as? [String] ?? []).compactMap { UInt8($0.dropFirst(2), radix: 16) }
        }
        XCTAssertNotEqual(try lookup("guard_config", bytes(0)), [0, 0, 0, 0], "the guards are still off")
        let w = try lookup("tracked_bits", bytes(word))
        let bit = Int(UInt32(watched.processIdentifier) % 64)
        XCTAssertEqual(w.count, 8)
        XCTAssertNotEqual(w.count == 8 ? w[bit / 8] & (1 << UInt8(bit % 8)) : 0, 0, "the agent's bit is still clear: \(w)")
    }
}
