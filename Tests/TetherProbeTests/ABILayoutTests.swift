import CTetherProbe
import Foundation
import TetherCore
import XCTest

/// The event ABI as Swift sees it must match the C header the BPF side is compiled with.
/// A field moved in tether_abi.h without the decoder following fails here, without root.
final class ABILayoutTests: XCTestCase {
    func testGuardBitsAreTheKernels() {
        let pairs: [(GuardActions, UInt32)] = [
            (.killed, TE_GUARD_KILLED), (.froze, TE_GUARD_FROZE), (.refused, TE_GUARD_REFUSED), (.monitor, TE_GUARD_MONITOR),
            (.tamper, TE_GUARD_TAMPER), (.write, TE_GUARD_WRITE), (.egress, TE_GUARD_EGRESS), (.forkFrozen, TE_GUARD_FORK),
            (.unresolved, TE_GUARD_UNRESOLVED), (.held, TE_GUARD_HELD), (.tty, TE_GUARD_TTY), (.deputy, TE_GUARD_DEPUTY),
            (.noted, TE_GUARD_NOTED),
        ]
        for (swift, c) in pairs { XCTAssertEqual(swift.rawValue, c, "\(swift.names)") }
        XCTAssertEqual(GuardActions.names.count, pairs.count, "every bit has a name")
        XCTAssertEqual(UInt32(Event.ioUringSyscall), TE_SYSCALL_URING)
        XCTAssertEqual(UInt32(Event.ioUringCompletion), TE_SYSCALL_URING_DONE)
    }

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
        XCTAssertEqual(MemoryLayout<te_deputy_proc>.size, 16)
        XCTAssertEqual(MemoryLayout<te_deputy_proc>.offset(of: \te_deputy_proc.start), 8)
        XCTAssertEqual(MemoryLayout<te_deputy_script>.size, 40)
        XCTAssertEqual(MemoryLayout<te_deputy_script>.offset(of: \te_deputy_script.dir), 24)
        XCTAssertEqual(MemoryLayout<te_dcache>.size, 16)
        XCTAssertEqual(MemoryLayout<te_dcache>.offset(of: \te_dcache.shift), 8)
        XCTAssertEqual(MemoryLayout<te_dcache_sample>.size, 32 + Int(TE_DCACHE_NAME))
        XCTAssertEqual(MemoryLayout<te_dcache_sample>.offset(of: \te_dcache_sample.hash), 24)
        XCTAssertEqual(MemoryLayout<te_dcache_sample>.offset(of: \te_dcache_sample.name), 32)
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
