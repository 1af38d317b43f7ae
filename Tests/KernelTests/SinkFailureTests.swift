import Foundation
import TetherExport
import XCTest

/// Sinks when the world fails under them (root: a small tmpfs stands in for a full disk).
final class SinkFailureTests: XCTestCase {
    /// The disk fills up while alerts are written: a line that does not fit is taken back
    /// (never half a line for the next alert to be glued to), the losses are counted, and
    /// once there is space again the sink is up again.
    func testAFullDiskLeavesNoHalfLineAndTheSinkComesBack() throws {
        _ = try KernelHarness.shared() // the root tier
        let dir = try makeScratch(name)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mnt = dir + "/small"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        XCTAssertEqual(mount("tmpfs", mnt, "tmpfs", 0, "size=64k"), 0, String(cString: strerror(errno)))
        defer { umount(mnt) }
        let path = mnt + "/alerts.jsonl"
        let sink = try JSONLinesSink(path: path)
        func alert(_ rule: String, _ size: Int) -> AlertRecord {
            AlertRecord(rule: rule, severity: .high, message: String(repeating: "x", count: size))
        }
        sink.submit(alert("test.before", 100)) // its page has room left for part of a line
        // fill every other page
        let filler = open(mnt + "/filler", O_WRONLY | O_CREAT, 0o600)
        let block = [UInt8](repeating: 0, count: 4096)
        while block.withUnsafeBytes({ write(filler, $0.baseAddress!, 4096) }) > 0 {}
        close(filler)
        for i in 0..<3 { sink.submit(alert("test.full.\(i)", 6000)) }
        XCTAssertEqual(sink.health().state, "failing")
        XCTAssertEqual(sink.health().dropped, 3)
        XCTAssertTrue(sink.health().lastError?.contains("No space left") ?? false, "\(sink.health())")
        unlink(mnt + "/filler")
        sink.submit(alert("test.after", 100))
        XCTAssertEqual(sink.health().state, "up", "space is back: so is the sink")
        XCTAssertEqual(sink.health().sent, 2)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(try lines.map { try AlertJSON.decode(String($0)).rule }, ["test.before", "test.after"],
                       "whole alerts only, one per line")
        sink.close(timeout: 1)
    }
}
