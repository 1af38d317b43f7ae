import Foundation
import TetherCore
import TetherProbe
import XCTest

/// Session tracking in the kernel: inheritance, escape attempts, isolation, loss accounting.
final class KernelSessionTests: KernelTestCase {

    func testDoubleForkedSetsidGrandchildStaysInTheSession() throws {
        let marker = scratch + "/marker"
        // the grandchild opens the marker once the root has exited
        let r = try k.run([KernelHarness.testops, "daemonize", marker], until: { evs in
            evs.contains { $0.kind == .open && $0.path == marker }
                && evs.filter { $0.kind == .exit }.count >= 3
        })
        let open = try XCTUnwrap(r.events.first { $0.kind == .open && $0.path == marker })
        XCTAssertEqual(open.session, r.session)
        XCTAssertNotEqual(open.pid, r.pid)
        XCTAssertTrue(r.events.contains { $0.kind == .setsid && $0.result > 0 })
        // the grandchild was reparented away from the session root, and is still ours
        XCTAssertNotEqual(open.ppid, r.pid)
        let rootExit = try XCTUnwrap(r.events.first { $0.kind == .exit && $0.pid == r.pid })
        XCTAssertGreaterThan(open.time, rootExit.time, "the grandchild acted after the root exited")
        XCTAssertEqual(r.of(.exit).count, 3, "root, child and grandchild exits")
        XCTAssertNil(k.probe.session(of: open.pid), "exit pruned the tracked entry")
    }

    func testUntrackedProcessProducesNoEvents() throws {
        let untrackedMarker = scratch + "/untracked"
        let trackedMarker = scratch + "/tracked"
        FileManager.default.createFile(atPath: untrackedMarker, contents: Data())
        FileManager.default.createFile(atPath: trackedMarker, contents: Data())
        // an untracked process hammering opens while a tracked one runs
        let p = Process()
        p.executableURL = URL(fileURLWithPath: KernelHarness.testops)
        p.arguments = ["open-loop", untrackedMarker, "20000"]
        try p.run()
        let r = try ops(["open-loop", trackedMarker, "50", "sleep-ms", "50"])
        p.waitUntilExit()
        usleep(50_000)
        XCTAssertEqual(r.events.filter { $0.kind == .open && $0.path == trackedMarker }.count, 50)
        XCTAssertFalse(k.allEvents().contains { $0.path == untrackedMarker || $0.pid == p.processIdentifier },
                       "an untracked process must produce no events")
        XCTAssertNil(k.probe.session(of: p.processIdentifier))
    }

    /// A session follows its agent's mode as the kernel's `agents` map has it now: a reload
    /// that makes an agent enforce reaches its running sessions at their next syscall, the
    /// per-CPU copy of the entry notwithstanding; a session's own mode stays its own.
    func testAnAgentsModeChangeReachesItsRunningSessionsAtOnce() throws {
        let slot: UInt16 = 7
        try k.probe.setAgent(slot: slot, name: "mode-test", enforce: false)
        defer { try? k.probe.clearAgent(slot: slot) }
        let marker = scratch + "/mode"
        FileManager.default.createFile(atPath: marker, contents: Data())
        let argv = [KernelHarness.testops] + Array(repeating: ["open", marker, "r", "sleep-ms", "5"], count: 600).flatMap { $0 }
        let follows = SessionID.random(), own = SessionID.random()
        // one tracked process at a time: it keeps its CPU's cached copy of its entry
        let a = try Launcher.spawn(argv, session: follows, probe: k.probe, agent: slot)
        var b: Launcher.Started?
        defer {
            for p in [a.pid, b?.pid].compactMap({ $0 }) { kill(p, SIGKILL); _ = Launcher.wait(p) }
        }
        func opens(_ s: SessionID, _ m: EnforcementMode) -> Int {
            k.events(s).filter { $0.kind == .open && $0.path == marker && $0.enforcement == m && $0.agentSlot == slot }.count
        }
        func waitFor(_ what: String, _ cond: () -> Bool) {
            let deadline = Date().addingTimeInterval(5)
            while !cond() && Date() < deadline { usleep(2_000) }
            XCTAssertTrue(cond(), what)
        }
        waitFor("opens in monitor mode first") { opens(follows, .monitor) >= 3 }
        try k.probe.setAgent(slot: slot, name: "mode-test", enforce: true)
        waitFor("the agent's session enforces from its next syscall") { opens(follows, .enforce) >= 3 }
        let monitored = opens(follows, .monitor)
        usleep(50_000)
        XCTAssertEqual(opens(follows, .monitor), monitored, "no event in the old mode once the new one shows")
        XCTAssertEqual(k.probe.member(a.pid)?.agent, slot)
        kill(a.pid, SIGKILL)
        b = try Launcher.spawn(argv, session: own, probe: k.probe, agent: slot, mode: .monitor)
        waitFor("a session with a mode of its own keeps it") { opens(own, .monitor) >= 3 }
        XCTAssertEqual(opens(own, .enforce), 0, "a session's own mode is not its agent's")
    }

    /// The dispatcher keeps a per-CPU copy of the last tracked entry it looked up. A change
    /// to `tracked` from user space (a new session, an untrack) must take effect on the
    /// process's very next syscall, not when the copy happens to be replaced.
    func testChangesToATrackedEntryTakeEffectAtOnce() throws {
        let marker = scratch + "/retracked"
        FileManager.default.createFile(atPath: marker, contents: Data())
        let argv = [KernelHarness.testops] + Array(repeating: ["open", marker, "r", "sleep-ms", "5"], count: 600).flatMap { $0 }
        let first = SessionID.random(), second = SessionID.random()
        let started = try Launcher.spawn(argv, session: first, probe: k.probe)
        defer {
            kill(started.pid, SIGKILL)
            _ = Launcher.wait(started.pid)
        }
        func opens(_ s: SessionID) -> Int { k.events(s).filter { $0.kind == .open && $0.path == marker }.count }
        func waitFor(_ what: String, _ cond: () -> Bool) {
            let deadline = Date().addingTimeInterval(5)
            while !cond() && Date() < deadline { usleep(2_000) }
            XCTAssertTrue(cond(), what)
        }
        waitFor("opens in the first session") { opens(first) >= 3 }
        try k.probe.track(pid: started.pid, session: second, root: started.pid)
        waitFor("after re-tracking, opens carry the new session") { opens(second) >= 3 }
        let firstAfter = opens(first)
        usleep(50_000)
        XCTAssertEqual(opens(first), firstAfter, "no event may carry the old session once the new one shows")
        try k.probe.untrack(pid: started.pid)
        usleep(50_000)
        let settled = opens(second)
        usleep(300_000)
        XCTAssertEqual(opens(second), settled, "an untracked process reports nothing more")
        XCTAssertEqual(opens(first), firstAfter)
        XCTAssertNil(k.probe.session(of: started.pid))
    }

    func testNohupAndReparentingStayInTheSession() throws {
        let marker = scratch + "/nohup-marker"
        let script = "nohup \(KernelHarness.testops) sleep-ms 200 open \(marker) wc >/dev/null 2>&1 &"
        let r = try k.run(["/bin/sh", "-c", script], until: { evs in evs.contains { $0.kind == .open && $0.path == marker } })
        let open = try XCTUnwrap(r.events.first { $0.kind == .open && $0.path == marker })
        XCTAssertEqual(open.session, r.session)
    }

    func testTinyRingBufferCountsDropsPerCPU() throws {
        var opts = ProbeOptions()
        opts.ringBufferBytes = 4096
        opts.wakeupBytes = 1 << 30 // never wake: nobody drains during the flood
        let tiny = try Probe(options: opts)
        defer { tiny.close() }
        let marker = scratch + "/flood"
        FileManager.default.createFile(atPath: marker, contents: Data())
        let started = try Launcher.spawn([KernelHarness.testops, "open-loop", marker, "5000"], session: SessionID.random(), probe: tiny)
        _ = Launcher.wait(started.pid)
        let stats = try tiny.stats()
        XCTAssertGreaterThan(stats.drops, 0, "a flood into a 4 KiB buffer must drop, and say so")
        XCTAssertEqual(try tiny.dropsPerCPU().reduce(0, +), stats.drops)
        var delivered = 0
        tiny.setRecordHandler { _ in delivered += 1 }
        try tiny.poll(timeoutMs: 0)
        XCTAssertGreaterThan(delivered, 0)
        XCTAssertEqual(UInt64(delivered) + stats.drops, stats.events + stats.drops,
                       "every event is either delivered or counted as dropped")
    }

    /// The ring buffer's data is mapped once: a record that runs past its end is put back
    /// together. A small buffer drained while a loop fills it wraps every few dozen records.
    func testRecordsThatWrapAroundTheRingArriveWhole() throws {
        var opts = ProbeOptions()
        opts.ringBufferBytes = 16384
        opts.wakeupBytes = 2048
        let small = try Probe(options: opts)
        defer { small.close() }
        let marker = scratch + "/" + String(repeating: "w", count: 77) // an odd record size
        FileManager.default.createFile(atPath: marker, contents: Data())
        var opens = 0, other = 0, corrupt = 0
        let lock = NSLock()
        let reader = EventReader(probe: small, sink: { e in
            lock.lock()
            defer { lock.unlock() }
            if e.kind == .open { if e.path == marker { opens += 1 } else if e.path?.hasPrefix(self.scratch) == true { other += 1 } }
        }, onCorrupt: { _ in lock.lock(); corrupt += 1; lock.unlock() })
        func seen() -> Int { lock.lock(); defer { lock.unlock() }; return opens }
        reader.pollTimeoutMs = 1
        reader.start()
        // Loops until enough records arrived to wrap the 16 KiB ring many times over (each is
        // ~250 bytes): however many a fast producer drops, the test decides when it has seen
        // enough, not the machine's speed.
        var runs = 0
        while seen() < 400 && runs < 200 {
            let started = try Launcher.spawn([KernelHarness.testops, "open-loop", marker, "300"], session: SessionID.random(), probe: small)
            _ = Launcher.wait(started.pid)
            runs += 1
        }
        reader.stop() // drains what is left
        let stats = try small.stats()
        XCTAssertEqual(corrupt, 0)
        XCTAssertEqual(other, 0, "no open arrived with a mangled path")
        XCTAssertGreaterThanOrEqual(opens, 400, "records kept arriving (drops: \(stats.drops), \(runs) runs)")
        XCTAssertEqual(reader.decoded, stats.events, "every record written was read back whole")
    }

    func testWatchPolicyStartsSessionsAtExec() throws {
        // A comm match in the kernel's watch map starts a session at exec, with no user-space help.
        try k.probe.watch(comm: "tether-testops")
        defer { try? k.probe.clearWatch() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: KernelHarness.testops)
        let marker = scratch + "/watched"
        p.arguments = ["open", marker, "wc"]
        try p.run()
        p.waitUntilExit()
        let deadline = Date().addingTimeInterval(5)
        var events: [Event] = []
        while Date() < deadline {
            events = k.allEvents().filter { $0.pid == p.processIdentifier }
            if events.contains(where: { $0.kind == .exit }) { break }
            usleep(5_000)
        }
        let exec = try XCTUnwrap(events.first { $0.kind == .exec })
        XCTAssertTrue(exec.sessionStart)
        XCTAssertNotEqual(exec.session.raw & (1 << 63), 0, "kernel-made session ids have the top bit set")
        XCTAssertTrue(events.contains { $0.kind == .open && $0.path == marker })
    }
}
