import CTetherProbe
import Foundation
import TetherCore
import XCTest

/// The event ABI as Swift sees it must match the C header the BPF side is compiled with.
/// A field moved in tether_abi.h without the decoder following fails here, without root.
final class ABILayoutTests: XCTestCase {
    func testEventLayout() {
        XCTAssertEqual(MemoryLayout<te_event>.size, Int(TE_SIZEOF_EVENT))
        XCTAssertEqual(MemoryLayout<te_header>.size, 16)
        XCTAssertEqual(MemoryLayout<te_str>.size, 8)
        let offsets: [(PartialKeyPath<te_event>, Int)] = [
            (\te_event.h, 0), (\te_event.pid, 16), (\te_event.tgid, 20), (\te_event.ppid, 24),
            (\te_event.uid, 28), (\te_event.euid, 32), (\te_event.gid, 36), (\te_event.egid, 40),
            (\te_event.syscall, 44), (\te_event.session, 48), (\te_event.result, 56),
            (\te_event.comm, 64), (\te_event.a, 80), (\te_event.family, 112), (\te_event.port, 114), (\te_event.guard, 116),
            (\te_event.addr, 120), (\te_event.root_tgid, 136), (\te_event.agent, 140), (\te_event.mode, 142), (\te_event.s, 144),
        ]
        for (path, want) in offsets {
            XCTAssertEqual(MemoryLayout<te_event>.offset(of: path), want, "offset of \(path)")
        }
        XCTAssertEqual(MemoryLayout<te_header>.offset(of: \te_header.size), 4)
        XCTAssertEqual(MemoryLayout<te_header>.offset(of: \te_header.time_ns), 8)
        XCTAssertEqual(MemoryLayout<te_str>.offset(of: \te_str.enc), 4)
        XCTAssertEqual(MemoryLayout<te_tracked>.size, 16)
        XCTAssertEqual(MemoryLayout<te_tracked>.offset(of: \te_tracked.flags), 12)
        XCTAssertEqual(MemoryLayout<te_tracked>.offset(of: \te_tracked.agent), 14)
        XCTAssertEqual(MemoryLayout<te_agent>.size, 64)
        XCTAssertEqual(AgentSlots.capacity, Int(TE_AGENT_MAX), "the policy loader's limit is the kernel's table")
        XCTAssertEqual(AgentSlots.nameLimit, Int(TE_AGENT_NAME) - 1)
        XCTAssertEqual(MemoryLayout<te_agent>.offset(of: \te_agent.name), 8)
        XCTAssertEqual(MemoryLayout<te_net_key>.size, 22, "LPM key: prefixlen, agent, address, packed")
        XCTAssertEqual(MemoryLayout<te_watch_inode>.size, 16)
    }

    func testKindNumbersAreStable() {
        // Retired numbers are never reused; these are what recorded data and BPF objects carry.
        let kinds: [(te_kind, UInt32)] = [
            (TE_FORK, 1), (TE_EXEC, 2), (TE_EXIT, 3), (TE_SETSID, 4), (TE_SETUID, 5), (TE_SETGID, 6),
            (TE_CAPSET, 7), (TE_OPEN, 20), (TE_RENAME, 21), (TE_LINK, 22), (TE_SYMLINK, 23),
            (TE_UNLINK, 24), (TE_RMDIR, 25), (TE_MKDIR, 26), (TE_CHMOD, 27), (TE_CHOWN, 28),
            (TE_TRUNCATE, 29), (TE_MKNOD, 30), (TE_CONNECT, 40), (TE_BIND, 41), (TE_LISTEN, 42),
            (TE_SENDTO, 43), (TE_PTRACE, 60), (TE_MOUNT, 61), (TE_UMOUNT, 62), (TE_PIVOT_ROOT, 63),
            (TE_CHROOT, 64), (TE_MOUNT_API, 65), (TE_UNSHARE, 66), (TE_SETNS, 67), (TE_MODULE, 68),
            (TE_BPF, 69), (TE_MEMFD, 70), (TE_IO_URING, 71), (TE_KILL, 72), (TE_SOCKET, 44),
            (TE_SYSCTL, 73), (TE_DEVICE, 74),
        ]
        for (k, n) in kinds { XCTAssertEqual(k.rawValue, n) }
    }

    /// The floor benchmark must measure exactly the hooks Tether attaches.
    func testFloorHasTheSameHooks() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        // tether.bpf.c is one object made of the concern headers it includes
        func source(_ file: String) throws -> String {
            var text = try String(contentsOf: root.appendingPathComponent("bpf/\(file)"), encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("#include \"") && line.hasSuffix(".h\"") {
                let name = line.dropFirst(10).dropLast()
                if name != "vmlinux.h" && name != "tether_abi.h" { text += try source(String(name)) }
            }
            return text
        }
        func hooks(_ file: String) throws -> [String] {
            let text = try source(file)
            var out: [String] = []
            for line in text.split(separator: "\n") {
                guard let r = line.range(of: "SEC(\""), let end = line[r.upperBound...].firstIndex(of: "\"") else { continue }
                let sec = String(line[r.upperBound..<end])
                if sec.hasPrefix("raw_tp/") || sec.hasPrefix("tp_btf/") || sec.hasPrefix("tp/") { out.append(sec) }
            }
            return Array(Set(out)).sorted()
        }
        let tether = try hooks("tether.bpf.c")
        XCTAssertFalse(tether.isEmpty)
        XCTAssertEqual(try hooks("floor.bpf.c"), tether)
    }
}
