import Foundation
import TetherCore
import XCTest

/// Evasion tier, class 7 (tampering without signals). Technique: with a copy of tetherd's
/// map descriptors (a root member's bpf(BPF_OBJ_GET) on the pins is itself tampering; here
/// the test writes the pinned map from outside, as a stolen fd would), delete a syscall's
/// handler from the kernel's tail-call table, or put another program in its place: from
/// then on that syscall of every watched process goes unreported, on a table the pins keep
/// while tetherd is down. ATT&CK T1562.001 (Impair Defenses: Disable or Modify Tools).
/// The table is frozen once filled: the kernel refuses both, and a restart over the pins
/// pins the new instance's own table, frozen too, in place of the old one.
final class EmptyTheHandlerTableTests: DaemonTestCase {
    func testTheHandlerTableCannotBeRewrittenBeforeOrAfterARestart() throws {
        let pin = newPinDir()
        let table = pin + "/handlers"
        func number(_ name: String) throws -> [String] {
            try XCTUnwrap((0..<1024).first { SyscallName.of(Int32($0)) == name }, "\(name) has no handler here").littleEndianBytes
        }
        let key = try number("openat")

        func show() throws -> [String: Any] {
            let r = try spawnAndWait(["/usr/sbin/bpftool", "-j", "map", "show", "pinned", table])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        }
        /// The program id at a slot of the table (bpftool's "formatted" value), nil if empty.
        func handler(_ slot: [String]) throws -> Int? {
            let r = try spawnAndWait(["/usr/sbin/bpftool", "-j", "map", "lookup", "pinned", table, "key"] + slot)
            let o = r.status == 0 ? try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] : nil
            return (o?["formatted"] as? [String: Any])?["value"] as? Int
        }
        func attemptRewrites(_ when: String) throws {
            XCTAssertEqual(try show()["frozen"] as? Int, 1, "\(when): the table is not frozen")
            let before = try XCTUnwrap(try handler(key), "\(when): openat has no handler")
            // another program of the table's own (execve's handler) in openat's place
            let other = try XCTUnwrap(try handler(number("execve")), "\(when): execve has no handler")
            let replace = try spawnAndWait(["/usr/sbin/bpftool", "map", "update", "pinned", table, "key"] + key + ["value", "id", String(other)])
            XCTAssertNotEqual(replace.status, 0, "\(when): openat's handler was replaced")
            XCTAssertEqual(try handler(key), before, "\(when): openat's handler changed")
            let delete = try spawnAndWait(["/usr/sbin/bpftool", "map", "delete", "pinned", table, "key"] + key)
            XCTAssertNotEqual(delete.status, 0, "\(when): openat's handler was deleted")
            XCTAssertEqual(try handler(key), before, "\(when): openat's handler is gone")
        }

        let (first, _) = try startDaemon([], pin: pin)
        try attemptRewrites("first instance")
        let firstID = try show()["id"] as? Int

        kill(first.processIdentifier, SIGKILL) // as if it crashed: the pins stay
        first.waitUntilExit()
        let (_, log) = try startDaemon([], pin: pin)
        XCTAssertNotEqual(try show()["id"] as? Int, firstID, "the restarted instance pinned the old table, not its own")
        try attemptRewrites("after a restart")

        // and its table still hands opens over: a watched process's open arrives
        let marker = dir + "/opened-after-restart"
        FileManager.default.createFile(atPath: marker, contents: nil)
        let r = try spawnAndWait([agent, "open", marker, "r"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(waitFor(10) {
            let evs = (try? EventJSON.decodeLines((try? String(contentsOfFile: self.dir + "/events.jsonl", encoding: .utf8)) ?? "")) ?? []
            return evs.contains { $0.kind == .open && $0.path == marker }
        }, "the open did not arrive: \(log())")
    }
}

private extension Int {
    /// bpftool's key bytes, as decimal arguments.
    var littleEndianBytes: [String] { withUnsafeBytes(of: UInt32(truncatingIfNeeded: self).littleEndian) { $0.map { String($0) } } }
}
