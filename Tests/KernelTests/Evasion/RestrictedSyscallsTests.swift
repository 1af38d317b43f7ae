import Foundation
import XCTest

/// Shared shape of the evasion tier's restricted-syscall techniques: in monitor mode the
/// use is `evasion.restricted_syscall` (high) naming the syscall; in a session Tether
/// launches confined, seccomp refuses it (EPERM), which testops prints as "OP 1".
extension TetherRunTestCase {
    func assertRestricted(_ op: [String], syscall: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let cmd = ([KernelHarness.testops] + op).joined(separator: " ")
        let watched = try run(cmd, mode: "monitor", confined: false)
        let f = watched.findings.first { $0["rule"] as? String == "evasion.restricted_syscall" && ($0["message"] as? String ?? "").contains(syscall) }
        XCTAssertNotNil(f, "monitor: no evasion.restricted_syscall naming \(syscall): \(watched.findings.map { $0["message"] ?? "" }) \(watched.stderr)", file: file, line: line)
        XCTAssertEqual(f?["severity"] as? String, "high", file: file, line: line)

        let enforced = try run(cmd + " > out.txt", mode: "enforce")
        let out = (try? String(contentsOfFile: dir + "/out.txt", encoding: .utf8)) ?? ""
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "\(op[0]) \(EPERM)", "enforce: \(syscall) must be refused (EPERM): \(enforced.stderr)", file: file, line: line)
        XCTAssertTrue(enforced.findings.contains { ($0["message"] as? String ?? "").contains("\(syscall) refused") }, "\(enforced.findings.map { $0["message"] ?? "" })", file: file, line: line)
    }
}
