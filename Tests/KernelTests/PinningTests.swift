import Foundation
import TetherCore
import TetherProbe
import TetherResponse
import XCTest

/// The kernel side outlives its process: pinned programs keep guarding while the daemon is
/// down, and the next instance takes over the sessions, the frozen marks and unread events.
final class PinningTests: KernelTestCase {
    func testGuardsKeepActingWhileDownAndTheNextInstanceTakesOver() throws {
        let pins = "/sys/fs/bpf/tether-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var opts = ProbeOptions()
        opts.pinDirectory = pins
        var first: Probe? = try Probe(options: opts)
        XCTAssertFalse(first!.resumedPinnedState)
        try first!.setGuards(.all)

        // a stand-in for tetherd that the agent will SIGKILL while "tetherd" is down
        let supervisor = Process()
        supervisor.executableURL = URL(fileURLWithPath: KernelHarness.testops)
        supervisor.arguments = ["sleep-ms", "100000"]
        try supervisor.run()
        try first!.protect(pid: supervisor.processIdentifier)

        let progress = scratch + "/progress"
        let session = SessionID.random()
        let root = try Launcher.spawn([KernelHarness.testops, "daemon-progress", progress, "sleep-ms", "400",
                                       "kill", String(supervisor.processIdentifier), "9", "sleep-ms", "100000"],
                                      session: session, probe: first!, mode: .enforce)
        // the grandchild exists and is tracked before the first instance goes away
        let deadline = Date().addingTimeInterval(5)
        while ((try? first!.tracked().filter { $0.session == session }.count) ?? 0) < 2 && Date() < deadline { usleep(5_000) }
        first!.close() // as if it crashed: nothing unpinned, nothing read
        first = nil

        XCTAssertEqual(Launcher.wait(root.pid), 128 + 9, "the guard killed the sender with no daemon running")
        supervisor.waitUntilExit()
        XCTAssertEqual(supervisor.terminationReason, .uncaughtSignal, "tracepoints cannot cancel the kill itself")

        let second = try Probe(options: opts)
        defer { try? second.unpin(); second.close() }
        XCTAssertTrue(second.resumedPinnedState)
        var events: [Event] = []
        second.setRecordHandler { b in if let e = try? RecordDecoder.decode(b) { events.append(e) } }
        try second.poll(timeoutMs: 0)
        let tamper = try XCTUnwrap(events.first { $0.kind == .kill && $0.target == supervisor.processIdentifier },
                                   "the event written while down waits in the pinned ring buffer")
        XCTAssertEqual(tamper.guardActions, [.killed, .froze, .tamper])
        XCTAssertEqual(tamper.session, session)
        XCTAssertTrue(second.isFrozen(session), "the frozen mark survived")
        let members = try second.tracked().filter { $0.session == session }.map(\.pid)
        XCTAssertEqual(members.count, 1, "the daemonized grandchild is still tracked: \(members)")
        let c = (try? String(contentsOfFile: progress, encoding: .utf8)) ?? ""
        usleep(100_000)
        XCTAssertEqual((try? String(contentsOfFile: progress, encoding: .utf8)) ?? "", c, "and still frozen")
        try SessionControl(probe: second).kill(session)
        try second.unpin()
        XCTAssertFalse(FileManager.default.fileExists(atPath: pins), "a clean stop leaves no pins")
    }
}
