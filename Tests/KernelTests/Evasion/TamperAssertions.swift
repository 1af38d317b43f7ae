import Foundation
import XCTest

/// Shared shape of the evasion tier's techniques that reach for the watcher itself: in
/// monitor mode `script` runs to its end (`touch after-monitor`) and the finding is
/// escape.tamper (critical) with `message` in its text; in enforce mode, with only the
/// tracepoint guards (as for sessions Tether adopts), the kernel ends the caller on its
/// way back from the syscall: nothing after it runs (`touch after-enforce`).
extension TetherRunTestCase {
    func assertTamperEndsTheCaller(_ script: String, message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let watched = try run("\(script); touch after-monitor", mode: "monitor", confined: false)
        let f = watched.findings.first { $0["rule"] as? String == "escape.tamper" }
        XCTAssertNotNil(f, "monitor: no escape.tamper in \(watched.rules): \(watched.stderr)", file: file, line: line)
        XCTAssertEqual(f?["severity"] as? String, "critical", file: file, line: line)
        XCTAssertTrue((f?["message"] as? String ?? "").contains(message), "monitor: \(f ?? [:])", file: file, line: line)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/after-monitor"), "monitor mode acts on nothing: \(watched.stderr)", file: file, line: line)

        let enforced = try run("\(script); touch after-enforce", mode: "enforce", confined: false)
        let g = enforced.findings.first { $0["rule"] as? String == "escape.tamper" }
        XCTAssertNotNil(g, "enforce: no escape.tamper in \(enforced.rules): \(enforced.stderr)", file: file, line: line)
        XCTAssertTrue((g?["outcome"] as? String ?? "").contains("the kernel already killed the offender"), "enforce: \(g ?? [:])", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after-enforce"), "enforce: the caller ran on: \(enforced.stderr)", file: file, line: line)
    }
}
