import Foundation
import XCTest

/// Evasion tier, class 3 (syscalls with no handler). Technique: give a copy of a shell a
/// file capability (cap_setuid) with setxattr(2) directly, not through setcap(8), whose
/// exec a rule knew: whoever runs the file later becomes root. ATT&CK T1548 (Abuse
/// Elevation Control Mechanism).
/// setxattr of a security.* name is reported; in enforce mode the session is ended and the
/// capability removed.
final class FileCapabilityBackdoorTests: TetherRunTestCase {
    func testAFileCapabilitySetBySetxattrIsFoundAndRemoved() throws {
        let script = "cp /bin/sh ./rootsh && \(KernelHarness.testops) setcap-raw ./rootsh > out.txt; sleep 60"
        let file = dir + "/rootsh"
        let watched = try run(script.replacingOccurrences(of: "; sleep 60", with: ""), mode: "monitor", confined: false)
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.privilege" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["path"] as? String, file, "\(f)")
        XCTAssertTrue((f["message"] as? String ?? "").contains("cap_setuid"), "\(f)")
        XCTAssertEqual(try testops(["hascap", file]), "hascap 1", "monitor mode undoes nothing")

        try FileManager.default.removeItem(atPath: file)
        let enforced = try run(script, mode: "enforce", confined: false)
        let g = try XCTUnwrap(enforced.findings.first { $0["rule"] as? String == "escape.privilege" }, "\(enforced.rules) \(enforced.stderr)")
        XCTAssertTrue((g["outcome"] as? String ?? "").contains("the file capability on \(file) removed"), "\(g)")
        XCTAssertEqual(try testops(["hascap", file]), "hascap 0", "the capability is still there: \(enforced.stderr)")
    }
}

extension TetherRunTestCase {
    /// tether-testops run here, outside any session; its output, trimmed.
    func testops(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: KernelHarness.testops)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
