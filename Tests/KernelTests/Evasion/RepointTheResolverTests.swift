import Foundation
import XCTest

/// Evasion tier, class 7 (tampering without signals). Technique: with a stolen descriptor of
/// the map that tells the kernel's resolver where the dcache's hash table is
/// (`dcache_table`), point it elsewhere, or empty it, so that every rename destination's
/// walk misses in its bucket and falls back to the bounded scan of a directory's children,
/// which a crowded directory defeats (CronThroughACrowdedDirectoryTests). ATT&CK T1562.001
/// (Impair Defenses: Disable or Modify Tools). The test writes the map from outside, as a
/// stolen fd would (taking one is a finding of its own: pidfd_getfd, bpf()).
/// The map is written once per load and frozen: the kernel refuses the write.
final class RepointTheResolverTests: DaemonTestCase {
    func testTheTableTheResolverUsesCannotBeRewritten() throws {
        let (_, log) = try startDaemon([], pin: newPinDir())
        XCTAssertTrue(waitFor(30) { log().contains("the dcache's hash table: found") }, log())
        let shown = try spawnAndWait(["/usr/sbin/bpftool", "-j", "map", "show", "name", "dcache_table"])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        // an array when there are several (this test's process may hold a probe too)
        let json = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8))
        let maps = (json as? [[String: Any]]) ?? [json as? [String: Any]].compactMap { $0 }
        XCTAssertFalse(maps.isEmpty, shown.stdout)
        var learned = 0
        for m in maps {
            let id = try XCTUnwrap(m["id"] as? Int, "\(m)")
            XCTAssertEqual(m["frozen"] as? Int, 1, "map \(id) is not frozen: \(m)")
            let value = try spawnAndWait(["/usr/sbin/bpftool", "-j", "map", "lookup", "id", String(id), "key", "0", "0", "0", "0"])
            let entry = try? JSONSerialization.jsonObject(with: Data(value.stdout.utf8)) as? [String: Any]
            let formatted = (entry?["formatted"] as? [String: Any])?["value"] as? [String: Any]
            if let table = formatted?["table"] as? NSNumber, table.uint64Value != 0 { learned += 1 }
            let write = try spawnAndWait(["/usr/sbin/bpftool", "map", "update", "id", String(id), "key", "0", "0", "0", "0",
                                          "value", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0"])
            XCTAssertNotEqual(write.status, 0, "map \(id) was rewritten: \(write.stdout)")
        }
        XCTAssertGreaterThan(learned, 0, "no loaded probe holds a learned table")
    }
}
