import CTetherProbe
import Foundation
import TetherCore
@testable import TetherProbe
import XCTest

/// Records built by hand, byte for byte as the BPF side writes them.
final class DecoderTests: XCTestCase {
    /// A record with `strings` appended in slot order: (slot, bytes, enc, flags).
    func record(kind: te_kind, result: Int64 = 0, syscall: UInt32 = 257, a: [UInt64] = [0, 0, 0, 0],
                strings: [(Int, [UInt8], te_str_enc, UInt32)] = [], family: UInt16 = 0, port: UInt16 = 0,
                addr: [UInt8] = []) -> [UInt8] {
        var e = te_event()
        e.h.kind = UInt16(kind.rawValue)
        e.h.abi = UInt16(TE_ABI_VERSION)
        e.h.time_ns = 42
        e.pid = 101; e.tgid = 100; e.ppid = 1
        e.uid = 1000; e.euid = 1000
        e.syscall = syscall
        e.session = 0x1234
        e.result = result
        withUnsafeMutableBytes(of: &e.comm) { b in for (i, c) in "agent".utf8.enumerated() { b[i] = c } }
        e.a = (a[0], a[1], a[2], a[3])
        e.family = family
        e.port = port
        withUnsafeMutableBytes(of: &e.addr) { b in for (i, x) in addr.enumerated() { b[i] = x } }
        var area: [UInt8] = []
        var slots = [te_str](repeating: te_str(), count: 4)
        for (slot, bytes, enc, flags) in strings {
            slots[slot] = te_str(off: UInt16(MemoryLayout<te_event>.size + area.count), len: UInt16(bytes.count),
                                 enc: UInt8(enc.rawValue), flags: UInt8(flags), skip: 0)
            area += bytes + [0]
        }
        e.s = (slots[0], slots[1], slots[2], slots[3])
        e.h.size = UInt32(MemoryLayout<te_event>.size + area.count)
        var out = withUnsafeBytes(of: &e) { Array($0) }
        out += area
        return out
    }

    func decode(_ bytes: [UInt8]) throws -> Event {
        try bytes.withUnsafeBytes { try RecordDecoder.decode($0) }
    }

    /// Leaf-first dentry names, each NUL terminated, as the kernel walk writes them.
    func dpath(_ path: String) -> [UInt8] {
        var out: [UInt8] = []
        let names = path.split(separator: "/").reversed()
        for (i, n) in names.enumerated() { out += Array(n.utf8); if i < names.count - 1 { out.append(0) } }
        return out
    }

    func testOpenWithKernelPath() throws {
        let e = try decode(record(kind: TE_OPEN, result: 3, a: [0o1101, 0o600, 0, 0],
                                  strings: [(0, dpath("/home/a/x.txt"), TE_STR_DPATH, 0), (1, Array("x.txt".utf8), TE_STR_PLAIN, 0)]))
        XCTAssertEqual(e.kind, .open)
        XCTAssertEqual(e.pid, 100)
        XCTAssertEqual(e.tid, 101)
        XCTAssertEqual(e.comm, "agent")
        XCTAssertEqual(e.session, SessionID(0x1234))
        XCTAssertEqual(e.path, "/home/a/x.txt")
        XCTAssertEqual(e.requested, "x.txt")
        XCTAssertEqual(e.mode, 0o600)
        XCTAssertEqual(OpenFlags.names(e.flags!), ["write", "create", "truncate"])
    }

    func testRelativePathJoinedToBase() throws {
        let e = try decode(record(kind: TE_UNLINK, syscall: 87,
                                  strings: [(0, dpath("/work/ws"), TE_STR_DPATH, TE_STRF_BASE), (1, Array("../other/./f".utf8), TE_STR_PLAIN, 0)]))
        XCTAssertEqual(e.path, "/work/other/f")
        XCTAssertEqual(e.requested, "../other/./f")
    }

    func testAbsoluteRequestedNeedsNoBase() throws {
        let e = try decode(record(kind: TE_MKDIR, syscall: 83, a: [0o755, 0, 0, 0], strings: [(1, Array("/tmp//x/".utf8), TE_STR_PLAIN, 0)]))
        XCTAssertEqual(e.path, "/tmp/x")
        XCTAssertEqual(e.mode, 0o755)
    }

    func testRootPath() throws {
        let e = try decode(record(kind: TE_CHROOT, syscall: 161, strings: [(0, [], TE_STR_DPATH, 0), (1, Array("/".utf8), TE_STR_PLAIN, 0)]))
        XCTAssertEqual(e.path, "/")
    }

    func testTruncatedPathIsMarked() throws {
        let e = try decode(record(kind: TE_OPEN, result: 3, strings: [(0, dpath("/a/b"), TE_STR_DPATH, TE_STRF_TRUNCATED)]))
        XCTAssertTrue(e.pathIncomplete)
    }

    func testExecArgvAndFlags() throws {
        let argv = Array("python3\0-c\0print(1)".utf8)
        let e = try decode(record(kind: TE_EXEC, syscall: 0, a: [3, UInt64(TE_EXEC_SESSION_START), 0, 0], strings: [
            (0, dpath("/usr/bin/python3.11"), TE_STR_DPATH, 0), (1, argv, TE_STR_PLAIN, 0),
            (2, dpath("/work"), TE_STR_DPATH, 0), (3, Array("/usr/bin/python3".utf8), TE_STR_PLAIN, 0)]))
        XCTAssertEqual(e.path, "/usr/bin/python3.11")
        XCTAssertEqual(e.argv, ["python3", "-c", "print(1)"])
        XCTAssertEqual(e.cwd, "/work")
        XCTAssertEqual(e.requested, "/usr/bin/python3")
        XCTAssertTrue(e.sessionStart)
        XCTAssertFalse(e.argvTruncated)
    }

    func testConnectAddresses() throws {
        let v4 = try decode(record(kind: TE_CONNECT, syscall: 42, family: 2, port: 443, addr: [169, 254, 169, 254]))
        XCTAssertEqual(v4.family, .inet)
        XCTAssertEqual(v4.addr, "169.254.169.254")
        XCTAssertEqual(v4.port, 443)
        var a6 = [UInt8](repeating: 0, count: 16); a6[0] = 0x20; a6[1] = 0x01; a6[2] = 0x0d; a6[3] = 0xb8; a6[15] = 1
        let v6 = try decode(record(kind: TE_CONNECT, syscall: 42, family: 10, port: 80, addr: a6))
        XCTAssertEqual(v6.addr, "2001:db8::1")
        let unix = try decode(record(kind: TE_CONNECT, syscall: 42, strings: [(1, Array("docker.sock".utf8), TE_STR_PLAIN, TE_STRF_ABSTRACT)], family: 1))
        XCTAssertEqual(unix.addr, "@docker.sock")
    }

    func testIPv6Text() {
        XCTAssertEqual(ipv6Text([UInt8](repeating: 0, count: 15) + [1]), "::1")
        XCTAssertEqual(ipv6Text([0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [5]), "fe80::5")
        XCTAssertEqual(ipv6Text([UInt8](repeating: 0, count: 10) + [0xff, 0xff, 10, 0, 0, 1]), "::ffff:10.0.0.1")
    }

    func testCorruptRecordsAreErrorsNotCrashes() throws {
        let good = record(kind: TE_OPEN, result: 3, strings: [(0, dpath("/a"), TE_STR_DPATH, 0)])
        XCTAssertThrowsError(try decode(Array(good.prefix(20))))
        var badABI = good; badABI[2] = 99
        XCTAssertThrowsError(try decode(badABI)) { XCTAssertEqual($0 as? RecordDecoder.Failure, .abi(99)) }
        var badKind = good; badKind[0] = 250
        XCTAssertThrowsError(try decode(badKind)) { XCTAssertEqual($0 as? RecordDecoder.Failure, .kind(250)) }
        var badSize = good; badSize[4] = 0xff; badSize[5] = 0xff
        XCTAssertThrowsError(try decode(badSize))
        // a string slot pointing past the record
        var badSlot = good
        let slotOff = MemoryLayout<te_event>.offset(of: \te_event.s)!
        badSlot[slotOff + 2] = 0xff
        XCTAssertThrowsError(try decode(badSlot)) { XCTAssertEqual($0 as? RecordDecoder.Failure, .string(slot: 0)) }
    }

    func testEveryKindDecodesAndRoundTripsThroughJSON() throws {
        for k in EventKind.allCases.map({ te_kind(rawValue: UInt32($0.abiNumber)) }) {
            let e = try decode(record(kind: k, result: -13, a: [1, 2, 3, 4], strings: [
                (0, dpath("/x/y"), TE_STR_DPATH, 0), (1, Array("y".utf8), TE_STR_PLAIN, 0),
                (2, dpath("/x/z"), TE_STR_DPATH, 0), (3, Array("z".utf8), TE_STR_PLAIN, 0)]))
            let line = EventJSON.encode(e)
            let back = try EventJSON.decode(Substring(line))
            XCTAssertEqual(back, e, "round trip of \(e.kind): \(line)")
        }
    }
}
