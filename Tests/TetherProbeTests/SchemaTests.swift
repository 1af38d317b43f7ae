import CTetherProbe
import Foundation
import TetherCore
import XCTest

/// The event schema (tether_events.def) is the one table of event kinds and syscall
/// handlers: the C side compiled it, `make` generated the Swift side from it, and the BPF
/// object has a handler per syscall row. These fail, without root, when any two disagree.
final class SchemaTests: XCTestCase {
    /// The schema as C compiled it.
    func cKinds() -> [(json: String, number: UInt16)] {
        var out: [(String, UInt16)] = []
        var i: UInt32 = 0
        var json: UnsafePointer<CChar>?
        var number: UInt16 = 0
        while tp_schema_kind(i, &json, &number) == 0 {
            out.append((String(cString: json!), number))
            i += 1
        }
        return out
    }

    func cSyscalls() -> [(name: String, nr: Int, kind: UInt16)] {
        var out: [(String, Int, UInt16)] = []
        var i: UInt32 = 0
        var name: UnsafePointer<CChar>?
        var nr = 0
        var kind: UInt16 = 0
        while tp_schema_syscall(i, &name, &nr, &kind) == 0 {
            out.append((String(cString: name!), nr, kind))
            i += 1
        }
        return out
    }

    func testCAndSwiftHaveTheSameKinds() {
        let c = cKinds()
        XCTAssertFalse(c.isEmpty)
        // C -> Swift: every row of the compiled schema is a Swift kind of that name and number
        for (json, number) in c {
            XCTAssertEqual(EventKind(abiNumber: number)?.rawValue, json, "C kind \(number) (\(json))")
        }
        // Swift -> C: every Swift kind is a row of the compiled schema
        for k in EventKind.allCases {
            XCTAssertTrue(c.contains { $0.json == k.rawValue && $0.number == k.abiNumber }, "Swift kind \(k) (\(k.abiNumber)) is not in C's schema")
        }
        XCTAssertEqual(EventKind.allCases.count, c.count)
        XCTAssertEqual(Set(c.map(\.number)).count, c.count, "a number used twice")
        XCTAssertEqual(EventKind.allCases.map(\.ordinal).sorted(), Array(0..<EventKind.count), "ordinals are dense")
        XCTAssertNil(EventKind(abiNumber: 0))
    }

    /// Numbers are part of the ABI: recorded data and BPF objects carry them. A kind may be
    /// added; one of these may never change its number or go away.
    func testKindNumbersNeverChange() {
        let frozen: [(String, UInt16)] = [
            ("fork", 1), ("exec", 2), ("exit", 3), ("setsid", 4), ("setuid", 5), ("setgid", 6), ("capset", 7),
            ("open", 20), ("rename", 21), ("link", 22), ("symlink", 23), ("unlink", 24), ("rmdir", 25), ("mkdir", 26),
            ("chmod", 27), ("chown", 28), ("truncate", 29), ("mknod", 30), ("connect", 40), ("bind", 41), ("listen", 42),
            ("sendto", 43), ("socket", 44), ("ptrace", 60), ("mount", 61), ("umount", 62), ("pivot_root", 63),
            ("chroot", 64), ("mount_api", 65), ("unshare", 66), ("setns", 67), ("module", 68), ("bpf", 69),
            ("memfd", 70), ("io_uring", 71), ("kill", 72), ("sysctl", 73), ("device", 74),
        ]
        for (json, number) in frozen {
            XCTAssertEqual(EventKind(abiNumber: number)?.rawValue, json, "kind \(json) must keep number \(number)")
        }
        XCTAssertEqual(TE_FORK.rawValue, 1)
        XCTAssertEqual(TE_DEVICE.rawValue, 74)
    }

    /// Every syscall row has its handler in the BPF object and every handler its row, and
    /// on x86-64 no handler is left out for a syscall the architecture lacks.
    func testEveryHandlerHasItsRowAndEveryRowItsHandler() throws {
        var buf = [CChar](repeating: 0, count: 8192)
        let n = tp_schema_handlers(&buf, buf.count)
        XCTAssertGreaterThan(n, 0, "the BPF object could not be opened: \(n)")
        let handlers = Set(String(cString: buf).split(separator: ",").map(String.init))
        let rows = cSyscalls()
        XCTAssertEqual(handlers.subtracting(rows.map(\.name)).sorted(), [], "handlers in the BPF object without a TE_SYSCALL row")
        XCTAssertEqual(Set(rows.map(\.name)).subtracting(handlers).sorted(), [], "TE_SYSCALL rows without a handler in the BPF object")
        XCTAssertEqual(rows.count, Set(rows.map(\.name)).count, "a syscall row twice")
        let kinds = Set(cKinds().map(\.number))
        for r in rows { XCTAssertTrue(kinds.contains(r.kind), "\(r.name) reports kind \(r.kind), which the schema lacks") }
        #if arch(x86_64)
        XCTAssertEqual(rows.filter { $0.nr < 0 }.map(\.name), [], "syscalls x86-64 has, whose handler would be skipped")
        #endif
    }
}
