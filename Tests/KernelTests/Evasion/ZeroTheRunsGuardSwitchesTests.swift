import Foundation
import XCTest

/// Evasion tier, class 7 (tampering without signals). Technique: as ZeroTheGuardSwitchesTests
/// against tetherd, but against the `tether run` that supervises the session: with a copy of
/// its map descriptor (here the test writes the map from outside by its id, as a stolen fd
/// would), switch the kernel's guards off (`guard_config` to 0). ATT&CK T1562.001 (Impair
/// Defenses). `tether run` re-checks what the kernel relies on every few seconds: the
/// switches are put back and raised as a critical `tether.guard_tampered`.
final class ZeroTheRunsGuardSwitchesTests: TetherRunTestCase {
    func testSwitchedOffGuardsOfTetherRunArePutBackAndRaised() throws {
        let bpftool = "/usr/sbin/bpftool"
        // the session names its supervisor (its parent), then waits to be let go
        let script = "echo $PPID > started.tmp && mv started.tmp started; while [ ! -e go ]; do sleep 0.05; done"
        let started = dir + "/started", out = dir + "/bpftool.json"

        // once the session runs, switch its supervisor's guards off
        final class Box: @unchecked Sendable { var zeroed = false; var after: [String] = [] }
        let box = Box()
        Thread.detachNewThread {
            let deadline = Date().addingTimeInterval(60)
            while !FileManager.default.fileExists(atPath: started) && Date() < deadline { usleep(20_000) }
            guard let pid = try? String(contentsOfFile: started, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                  let id = self.guardConfig(of: pid) else { return }
            box.zeroed = (try? self.shell("\(bpftool) map update id \(id) key 0 0 0 0 value 0 0 0 0")) == 0
        }
        let r = try run(script, mode: "monitor", confined: false, when: "tether.guard_tampered", then: {
            // what the kernel has now, read before the session is let go
            if let pid = try? String(contentsOfFile: started, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
               let id = self.guardConfig(of: pid), (try? self.shell("\(bpftool) -j map lookup id \(id) key 0 0 0 0 > \(out)")) == 0,
               let o = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any] {
                box.after = o["value"] as? [String] ?? []
            }
            FileManager.default.createFile(atPath: self.dir + "/go", contents: nil)
        })
        XCTAssertTrue(box.zeroed, "the test could not switch the guards off: \(r.stderr)")
        let f = try XCTUnwrap(r.findings.first { $0["rule"] as? String == "tether.guard_tampered" }, "\(r.rules) \(r.stderr)")
        XCTAssertEqual(f["severity"] as? String, "critical")
        XCTAssertTrue((f["message"] as? String ?? "").contains("guard switches") && (f["message"] as? String ?? "").contains("put back"), "\(f)")
        XCTAssertEqual(box.after.count, 4, "the switches could not be read back: \(r.stderr)")
        XCTAssertNotEqual(box.after, ["0x00", "0x00", "0x00", "0x00"], "the guards are still off")
    }

    /// The id of the guard_config map `pid` holds, from its descriptors' fdinfo.
    func guardConfig(of pid: String) -> String? {
        let bpftool = "/usr/sbin/bpftool", out = dir + "/bpftool-map.json"
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fdinfo")) ?? []
        for fd in fds {
            guard let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8),
                  let line = info.split(separator: "\n").first(where: { $0.hasPrefix("map_id:") }) else { continue }
            let id = line.dropFirst("map_id:".count).trimmingCharacters(in: .whitespaces)
            guard (try? shell("\(bpftool) -j map show id \(id) > \(out)")) == 0,
                  let o = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any],
                  o["name"] as? String == "guard_config" else { continue }
            return id
        }
        return nil
    }
}
