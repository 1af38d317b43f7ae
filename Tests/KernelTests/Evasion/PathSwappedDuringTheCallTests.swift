import Foundation
import XCTest

/// Evasion tier, class 2 (paths spelled around the resolver: TOCTOU). Technique: a second
/// thread rewrites a path-only call's path in memory while the call runs, after the kernel
/// copied it and before the exit hook reads it, so the record names a harmless file while
/// the kernel acted on another. Here the call is a truncate of a file outside the workspace
/// (destroying what it held), and a read lease the agent holds on that file keeps the call
/// waiting in the kernel while the path is rewritten to a workspace file's: the window is
/// certain, not raced. ATT&CK T1036 (Masquerading), T1485 (Data Destruction).
/// The call's strings are hashed at its entry too (its own syscall tracepoint) and compared
/// at its exit: the record says the path changed, that is evasion.unresolved_path (high),
/// and in enforce mode the kernel kills the caller on its return and freezes its session.
final class PathSwappedDuringTheCallTests: TetherRunTestCase {
    func testAPathRewrittenWhileTheCallRunsIsNotTakenAtItsWord() throws {
        let real = "/var/tmp/tether-evasion-swapped-\(getpid())"
        let shown = dir + "/notes.txt"
        cleanup.append(real)
        // exec: the shell is not left behind, stopped for review (the rule's action) with the session
        let script = "exec \(KernelHarness.testops) truncate-swapped \(real) \(shown) > out.txt"
        func plant() throws {
            try "what the agent wants gone\n".write(toFile: real, atomically: false, encoding: .utf8)
            try "notes\n".write(toFile: shown, atomically: false, encoding: .utf8)
        }
        func size(_ p: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? -1 }
        func said() -> String {
            ((try? String(contentsOfFile: dir + "/out.txt", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }

        try plant()
        let watched = try run(script, mode: "monitor", confined: false)
        // the technique worked: the kernel truncated the real file, the shown one is whole
        XCTAssertEqual(said(), "truncate-swapped 0", watched.stderr)
        XCTAssertEqual(size(real), 0, "the truncate acted on the real file")
        XCTAssertEqual(size(shown), 6, "the shown file was never touched")
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "evasion.unresolved_path" },
                              "monitor: \(watched.rules) \(watched.stderr)")
        XCTAssertEqual(f["severity"] as? String, "high", "\(f)")
        let message = f["message"] as? String ?? ""
        XCTAssertTrue(message.contains("changed in the caller's memory while the call ran"), message)
        let events = f["events"] as? [[String: Any]] ?? []
        XCTAssertTrue(events.contains { $0["path_raced"] as? Bool == true }, "the record says its path is not the kernel's: \(events)")

        try plant()
        let enforced = try run(script, mode: "enforce", confined: false)
        let g = try XCTUnwrap(enforced.findings.first { $0["rule"] as? String == "evasion.unresolved_path" },
                              "enforce: \(enforced.rules) \(enforced.stderr)")
        let guardActions = (g["events"] as? [[String: Any]] ?? []).flatMap { $0["guard"] as? [String] ?? [] }
        XCTAssertTrue(guardActions.contains("killed"), "the kernel kills the caller on its return: \(g)")
        XCTAssertEqual(said(), "", "the caller ran on past the truncate: \(enforced.stderr)")
    }

    /// Variant: the path sits on a page that is not in memory when the call begins (a shared
    /// mapping dropped with madvise just before), so the entry cannot read it and has nothing
    /// to compare the exit's string with; the kernel's own copy maps the page, and the swap
    /// follows as above. The record says its path is unverified: evasion.unverified_path
    /// (medium: an honest program's untouched string looks the same), naming what it shows.
    /// (Now and then the kernel restarts the waiting call after its first try; the second
    /// entry then reads the page the first one mapped, and the swap shows as raced:
    /// evasion.unresolved_path. Either way the record does not pass for the kernel's.)
    func testAPathNotInMemoryWhenTheCallBeganIsSaidToBeUnverified() throws {
        let real = "/var/tmp/tether-evasion-unmapped-\(getpid())"
        let shown = dir + "/notes.txt"
        cleanup.append(real)
        try "what the agent wants gone\n".write(toFile: real, atomically: false, encoding: .utf8)
        try "notes\n".write(toFile: shown, atomically: false, encoding: .utf8)
        let watched = try run("exec \(KernelHarness.testops) truncate-swapped-unmapped \(real) \(shown) > out.txt", mode: "monitor", confined: false)
        let said = ((try? String(contentsOfFile: dir + "/out.txt", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(said, "truncate-swapped 0", watched.stderr)
        XCTAssertEqual((try? FileManager.default.attributesOfItem(atPath: real)[.size] as? Int) ?? -1, 0, "the truncate acted on the real file")
        if let f = watched.findings.first(where: { $0["rule"] as? String == "evasion.unverified_path" }) {
            XCTAssertEqual(f["severity"] as? String, "medium", "\(f)")
            XCTAssertTrue((f["message"] as? String ?? "").contains("could not be read when the call began"), "\(f)")
            let events = f["events"] as? [[String: Any]] ?? []
            XCTAssertTrue(events.contains { $0["path_unverified"] as? Bool == true }, "\(events)")
        } else {
            let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "evasion.unresolved_path" },
                                  "monitor: the swap passed for the kernel's path: \(watched.rules) \(watched.stderr)")
            let events = f["events"] as? [[String: Any]] ?? []
            XCTAssertTrue(events.contains { $0["path_raced"] as? Bool == true }, "a restarted call's second entry: \(events)")
        }
    }

    /// Variant on openat2's flags: the open_how sits on a page not in memory when the call
    /// begins, and reads O_RDONLY by the time it returns, while the kernel opened the cron
    /// file for writing (a read lease makes the open wait in between). The file the open
    /// made is open for writing, and that is what the record, the guard and the rules go by.
    /// Monitor: persist.cron for a write open, and the flags unverified. Enforce: the write
    /// guard kills the caller on its return from the open, before a byte is written.
    func testOpenFlagsSwappedFromAPageNotInMemoryAreJudgedByTheOpenedFile() throws {
        try FileManager.default.createDirectory(atPath: "/etc/cron.d", withIntermediateDirectories: true)
        let cron = "/etc/cron.d/tether-evasion-how-\(getpid())"
        cleanup.append(cron)
        let job = "* * * * * root /bin/true"
        let script = "exec \(KernelHarness.testops) openat2-swapped \(cron) '\(job)' > out.txt"
        FileManager.default.createFile(atPath: cron, contents: Data())
        let watched = try run(script, mode: "monitor", confined: false)
        XCTAssertEqual(try String(contentsOfFile: cron, encoding: .utf8), job, "the technique worked: \(watched.stderr)")
        let f = try XCTUnwrap(watched.findings.first { $0["rule"] as? String == "persist.cron" }, "monitor: \(watched.rules) \(watched.stderr)")
        let open = (f["events"] as? [[String: Any]] ?? []).first { $0["kind"] as? String == "open" && $0["syscall"] as? Int == 437 } // openat2, x86-64
        XCTAssertEqual(open?["flags"] as? [String], ["write"], "the opened file's mode, not the flags in memory: \(f)")
        // (or raced, if the kernel restarted the waiting open: see the test above)
        XCTAssertFalse(watched.rules.isDisjoint(with: ["evasion.unverified_path", "evasion.unresolved_path"]), "\(watched.rules)")

        try? FileManager.default.removeItem(atPath: cron)
        FileManager.default.createFile(atPath: cron, contents: Data())
        let enforced = try run(script, mode: "enforce", confined: false)
        XCTAssertTrue(enforced.rules.contains("persist.cron"), "enforce: \(enforced.rules) \(enforced.stderr)")
        XCTAssertEqual((try? String(contentsOfFile: cron, encoding: .utf8)) ?? "", "", "the job landed: \(enforced.stderr)")
    }
}
