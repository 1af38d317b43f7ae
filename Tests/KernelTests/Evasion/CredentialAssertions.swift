import Foundation
import XCTest

/// Shared shape of the evasion tier's credential reads: the read itself cannot be undone,
/// so in monitor mode the finding is escape.credentials (high) naming the file really read,
/// and in enforce mode (the rule's action set to kill for the test: its default, stop, would
/// wait for a person) the session is ended before it can use what it read: the script's
/// next step (`touch after-enforce`, after a pause the kill cuts short) never runs.
extension TetherRunTestCase {
    func assertCredentialReadCaught(_ script: String, path: String, env: [String: String] = [:],
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        let watched = try run(script, mode: "monitor", confined: false, env: env)
        let f = watched.findings.first { $0["rule"] as? String == "escape.credentials" }
        XCTAssertNotNil(f, "monitor: no escape.credentials in \(watched.rules): \(watched.stderr)", file: file, line: line)
        XCTAssertEqual(f?["path"] as? String, path, "monitor: the finding must name the file read: \(f ?? [:])", file: file, line: line)
        XCTAssertEqual(f?["severity"] as? String, "high", file: file, line: line)

        let enforced = try run("\(script); sleep 60; touch after-enforce", mode: "enforce", confined: false, env: env,
                               rules: "escape.credentials: {action: kill}")
        let g = enforced.findings.first { $0["rule"] as? String == "escape.credentials" }
        XCTAssertEqual(g?["enforced"] as? Bool, true, "enforce: \(g ?? [:]) \(enforced.stderr)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after-enforce"), "enforce: the session ran on: \(enforced.stderr)", file: file, line: line)
    }

    /// A home of the test's own outside /home (where the agent's HOME points), with `files`
    /// (path relative to it -> content) in place.
    func makeHome(_ name: String, files: [String: String] = [:]) throws -> String {
        let home = "/tmp/tev-\(name)-\(getpid())"
        cleanup.append(home)
        for (rel, text) in files {
            let p = home + "/" + rel
            try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: p, atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        return home
    }
}
