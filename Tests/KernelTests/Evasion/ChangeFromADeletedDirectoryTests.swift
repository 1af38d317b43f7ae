import Foundation
import XCTest

/// Evasion tier, class 2 (paths spelled around the resolver). Technique: change a file
/// outside the boundary from a working directory that has been removed, through `..`
/// (the kernel still walks up from a deleted directory), so that the directory the path is
/// read against has no links left, as a memfd or an unlinked file has, which are no place
/// on the filesystem. ATT&CK T1222 (File and Directory Permissions Modification), spelled
/// per T1036 (Masquerading).
/// Only the file a record names by itself can be "no place": a base directory that is gone
/// says nothing of the file the path reaches from it.
final class ChangeFromADeletedDirectoryTests: TetherRunTestCase {
    func testAChmodThroughDotDotFromARemovedCwdIsStillOutsideTheBoundary() throws {
        let target = "/opt/tether-evasion-deleted-cwd-\(getpid())"
        cleanup.append(target)
        try FileManager.default.createDirectory(atPath: "/opt", withIntermediateDirectories: true)
        try "the admin's\n".write(toFile: target, atomically: false, encoding: .utf8)
        let up = String(repeating: "../", count: dir.split(separator: "/").count + 1)
        let watched = try run("mkdir gone && cd gone && rmdir ../gone && chmod 600 \(up)\(target.dropFirst())", mode: "monitor", confined: false)
        var st = stat()
        XCTAssertEqual(stat(target, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "the technique worked: \(watched.stderr)")
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "escape.write" }, "\(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["path"] as? String, target, "\(f)")
    }
}
