import Foundation
@testable import TetherProbe
import XCTest

/// Finding the dcache's hash table from sampled dentries: the name hash against values
/// this project's kernel (6.18, x86-64) put in its dentries, and the table found only
/// where the samples agree.
final class DcacheTableTests: XCTestCase {
    /// (directory's dentry, name, d_name.hash) as the kernel recorded them: a short name,
    /// one of exactly a word, of whole words, and of words and a rest.
    func testTheNameHashIsTheKernels() {
        let recorded: [(UInt64, String, UInt32)] = [
            (0xffff_8881_0040_8840, "null", 0xe736_288f),
            (0xffff_8881_f86f_8e40, "initctl", 0xa419_ce95),
            (0xffff_8881_12b1_2540, "ciT1.log", 0x736d_b6a3),
            (0xffff_8882_1e7a_03c0, "bashtool-stderr-ac4ac7b3ce254f7f", 0x5e5f_6ddd),
            (0xffff_8881_12b1_2540, "bash_tool_b611665f-1409-43a1-807d-f7b1a219db3e", 0x06c7_32f0),
        ]
        for (salt, name, hash) in recorded {
            XCTAssertEqual(DcacheTable.hash(salt: salt, name: Array(name.utf8)), hash, name)
        }
        XCTAssertNotEqual(DcacheTable.hash(salt: 0xffff_8881_0040_8840 + 64, name: Array("null".utf8)), 0xe736_288f, "the directory is the salt")
    }

    static let table: UInt64 = 0xffff_8886_25c0_0000
    static let shift: UInt32 = 10

    /// A dentry first in its bucket (its pprev is the bucket), or further down a chain
    /// (its pprev is inside the dentry before it).
    func sample(_ i: Int, first: Bool = true, name: String? = nil) -> DcacheTable.Sample {
        let parent: UInt64 = 0xffff_8881_0000_0000 + UInt64(i % 3) * 0xc0
        let n = Array((name ?? "file-\(i).txt").utf8)
        let hash = DcacheTable.hash(salt: parent, name: n)
        let pprev = first ? Self.table + UInt64(hash >> Self.shift) * 8 : 0xffff_8881_2000_0000 + UInt64(i) * 0xc0 + 8
        return .init(dentry: 0xffff_8881_3000_0000 + UInt64(i) * 0xc0, parent: parent, pprev: pprev, hash: hash, name: n)
    }

    func testTheTableIsWhereTheFirstDentriesOfTheirBucketsAgreeItIs() throws {
        var samples = (0..<40).map { sample($0) } + (40..<50).map { sample($0, first: false) }
        samples += Array(repeating: sample(100, first: false), count: 30) // one dentry many tasks hold open votes once
        samples.append(.init(dentry: 1, parent: 2, pprev: 0, hash: 7, name: nil)) // unhashed: no vote
        let found = try DcacheTable.solve(samples).get()
        XCTAssertEqual(found.table, Self.table)
        XCTAssertEqual(found.shift, Self.shift)
        XCTAssertEqual(found.agreeing, 40)
        XCTAssertEqual(found.hashed, 51)
        // a crowded table: most sampled dentries further down their chains
        let crowded = try DcacheTable.solve((0..<10).map { sample($0) } + (10..<70).map { sample($0, first: false) }).get()
        XCTAssertEqual(crowded.table, Self.table)
        XCTAssertEqual(crowded.agreeing, 10)
    }

    func testNoTableIsTakenFromTooFewOrDisagreeingSamplesOrAnotherHash() {
        guard case .failure(let few) = DcacheTable.solve((0..<5).map { sample($0) }) else { return XCTFail("five dentries decided") }
        XCTAssertTrue(few.detail.contains("only 5"), few.detail)

        let chained = (0..<20).map { sample($0, first: false) }
        guard case .failure(let none) = DcacheTable.solve(chained) else { return XCTFail("no dentry first in its bucket, yet a table") }
        XCTAssertTrue(none.detail.contains("no table"), none.detail)

        var other = (0..<20).map { sample($0) }
        for i in other.indices { other[i].hash ^= 0x5555 } // a kernel that hashes names otherwise
        guard case .failure(let hash) = DcacheTable.solve(other) else { return XCTFail("a table under another hash") }
        XCTAssertTrue(hash.detail.contains("name hash differs"), hash.detail)
    }
}
