import XCTest
@testable import TetherCore

/// What a broken or hostile policy file gets: a clear error with its place, never a crash,
/// a hang or a flood.
final class PolicyLimitTests: XCTestCase {
    func errors(_ text: String) -> [String] {
        do { _ = try Policy.parse(text, file: "p.yaml"); return [] } catch let e as PolicyLoadError {
            return e.errors.map(\.description)
        } catch { return ["\(error)"] }
    }

    func testNestingAliasesAndSizeAreBoundedBeforeParsing() {
        XCTAssertEqual(errors("version: 1\nagents: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)),
                       ["p.yaml:2:73: lists and mappings nested more than 64 deep"])
        XCTAssertTrue(errors("version: 1\nagents:\n" + String(repeating: "- ", count: 100) + "x\n").first?.hasPrefix("p.yaml:3:") ?? false)
        XCTAssertEqual(errors("version: 1\na: &x [1]\nb: *x\n").first, "p.yaml:2:4: YAML anchors (&name) and aliases (*name) are not allowed in a policy; quote a value that starts with '&'")
        XCTAssertTrue(errors(String(repeating: "#", count: PolicyLimits.maxBytes + 1)).first?.contains("at most") ?? false)
        // the same characters inside quotes, comments and globs are fine
        XCTAssertEqual(errors("version: 1 # & * [ {\nagents:\n  - name: a\n    match: {exe: [\"/opt/*\", /opt/x*], comm: ['&a']}\n"), [])
    }

    func testErrorsAreCappedWithACount() {
        let text = "version: 1\nagents:\n" + (0..<300).map { "  - name: a\($0)\n    match: {comm: [c\($0)]}\n    nope: 1\n" }.joined()
        let e = errors(text)
        XCTAssertEqual(e.count, PolicyLimits.maxErrors + 1)
        XCTAssertEqual(e.last, "p.yaml: 201 more error(s) not shown", "300 unknown keys and one agent count past the kernel's table")
    }

    func testDurationsAreBounded() {
        for bad in ["1e11", "1e19", "1e300h", "9999999h"] {
            XCTAssertTrue(errors("version: 1\ndefaults:\n  grace_period: \(bad)\n").first?.contains("longer than 604800 s") ?? false, bad)
        }
        XCTAssertEqual(errors("version: 1\ndefaults:\n  grace_period: 7d\n").count, 1, "not a unit Tether knows")
        XCTAssertEqual(errors("version: 1\ndefaults:\n  grace_period: 168h\n  term_grace: 1m\n"), [])
    }

    func testInvalidUTF8IsNamedWhereItIs() throws {
        let path = NSTemporaryDirectory() + "tether-utf8-\(getpid()).yaml"
        defer { unlink(path) }
        try (Data("version: 1\nagents:\n  - name: caf".utf8) + Data([0xC3, 0x28])).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Policy.load(path: path)) { e in
            XCTAssertEqual("\(e)", "\(path):3:14: cannot read the policy: not UTF-8 text")
        }
    }

    func testCRLFRecordingsSplitIntoLines() throws {
        let lf = #"{"kind":"setsid","time":1,"pid":1,"session":"0000000000000001","result":1}"# + "\n"
            + #"{"kind":"setsid","time":2,"pid":1,"session":"0000000000000001","result":1}"#
        XCTAssertEqual(try EventJSON.decodeLines(lf.replacingOccurrences(of: "\n", with: "\r\n")).map(\.time), [1, 2])
        XCTAssertThrowsError(try EventJSON.decodeLines(#"{"kind":"exec","time":1,"pid":4294967296,"session":"0000000000000001","result":0}"#)) { e in
            XCTAssertTrue("\(e)".contains("\"pid\" has the wrong type or is out of range"), "\(e)")
        }
    }
}
