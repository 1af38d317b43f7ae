import Foundation
import TetherCore
import TetherExport
import TetherPipeline
import TetherProbe
import TetherResponse
import XCTest

/// Evasion tier, class 6 (blinding). Technique: flood the kernel-to-daemon ring buffer with
/// cheap records (thousands of opens of a harmless directory) so that the one record that
/// matters, a cron job written right after, is dropped with the rest and never judged.
/// ATT&CK T1562.006 (Impair Defenses: Indicator Blocking), here in service of T1053.003.
///
/// What must hold: the loss is a finding at once (a loss record on the urgent ring names
/// the session), the guarded write arrives anyway (records a guard matched go on the urgent
/// ring when the main one is full), and in enforce mode the kernel's verdict on the write
/// needed no record at all: nothing landed.
final class BlindingByFloodTests: KernelTestCase {
    var cleanup: [String] = []

    override func tearDownWithError() throws {
        for p in cleanup { try? FileManager.default.removeItem(atPath: p) }
        try super.tearDownWithError()
    }

    struct Flooded {
        var session: SessionID
        var events: [Event]
        var alerts: [AlertRecord]
        var stats: ProbeStats
    }

    /// A probe of its own with a 4 KiB ring that nobody drains while the member floods it,
    /// the write guard on /etc/cron.d, and the one pipeline judging what comes out after.
    func flood(then cron: String, text: String = "* * * * * root /bin/true", mode: EnforcementMode, plan given: GuardPlan? = nil) throws -> Flooded {
        try flood(["write", cron, text], mode: mode, plan: given)
    }

    /// `ops` (testops') run right after the flood, while the ring is still full.
    func flood(_ ops: [String], mode: EnforcementMode, plan given: GuardPlan? = nil) throws -> Flooded {
        var opts = ProbeOptions()
        opts.ringBufferBytes = 4096
        opts.wakeupBytes = 1 << 30
        let tiny = try Probe(options: opts)
        defer { tiny.close() }
        var plan = GuardPlan()
        plan.guards = [.write]
        plan.protected = [GuardPlan.Protected(path: "/etc/cron.d", protection: Protection([.write, .directory]).rawValue, rule: "persist.cron")]
        _ = try (given ?? plan).install(tiny)

        // The flood opens "/": the smallest record a path can make, so what is left of the
        // full ring never holds a record that comes after (a shorter one could slip into the
        // tail the flood's records leave, and arrive without a rescue).
        let session = SessionID.random()
        let s = try Launcher.spawn([KernelHarness.testops, "open-loop", "/", "3000"] + ops,
                                   session: session, probe: tiny, mode: mode)
        _ = Launcher.wait(s.pid)
        let stats = try tiny.stats()

        var alerts: [AlertRecord] = []
        let pipeline = Pipeline(policy: .default, source: .live, responder: nil) { alerts.append($0) }
        pipeline.log = { _ in }
        var events: [Event] = []
        let reader = EventReader(probe: tiny, sink: { e in
            pipeline.handle(&e)
            events.append(e)
        })
        try reader.drain()
        return Flooded(session: session, events: events.filter { $0.session == session }, alerts: alerts, stats: stats)
    }

    func testAFloodIsAFindingAtOnceAndTheGuardedWriteStillArrives() throws {
        try FileManager.default.createDirectory(atPath: "/etc/cron.d", withIntermediateDirectories: true)
        let cron = "/etc/cron.d/tether-test-flood-\(getpid())"
        cleanup.append(cron)
        let r = try flood(then: cron, mode: .monitor)

        XCTAssertGreaterThan(r.stats.drops, 0, "the flood must overflow a 4 KiB ring")
        let loss = try XCTUnwrap(r.events.first { $0.kind == .loss }, "no loss record: \(r.events.map(\.kind))")
        XCTAssertGreaterThan(loss.lost ?? 0, 0)
        XCTAssertEqual(loss.op, "open", "the lost records were the flood's opens")
        let finding = try XCTUnwrap(r.alerts.first { $0.rule == "evasion.event_loss" }, "\(r.alerts.map(\.rule))")
        XCTAssertEqual(finding.session, r.session.description)
        XCTAssertEqual(finding.severity, .high)
        XCTAssertTrue(finding.message.contains("lost"), finding.message)

        // the write that matters was not dropped with the flood: a guard matched it
        XCTAssertGreaterThanOrEqual(r.stats.rescued, 1)
        let write = try XCTUnwrap(r.events.first { $0.kind == .open && $0.path == cron }, "the cron write was lost with the flood")
        XCTAssertTrue(write.guardActions.contains(.write), "\(write.guardActions)")
        let cronFinding = try XCTUnwrap(r.alerts.first { $0.rule == "persist.cron" }, "\(r.alerts.map(\.rule))")
        XCTAssertEqual(cronFinding.path, cron)
        XCTAssertEqual(cronFinding.session, r.session.description)
    }

    func testInEnforceModeTheFloodedWriteLandsNothing() throws {
        try FileManager.default.createDirectory(atPath: "/etc/cron.d", withIntermediateDirectories: true)
        let cron = "/etc/cron.d/tether-test-flood-enforce-\(getpid())"
        cleanup.append(cron)
        let r = try flood(then: cron, mode: .enforce)
        XCTAssertGreaterThan(r.stats.drops, 0)
        XCTAssertEqual((try? Data(contentsOf: URL(fileURLWithPath: cron)))?.count ?? 0, 0, "the cron job's content landed")
        let write = try XCTUnwrap(r.events.first { $0.kind == .open && $0.path == cron })
        XCTAssertTrue(write.guardActions.contains(.killed), "\(write.guardActions)")
        XCTAssertTrue(r.alerts.contains { $0.rule == "evasion.event_loss" && $0.session == r.session.description }, "\(r.alerts.map(\.rule))")
    }

    /// Variant: the write that matters is one no guard acts on (git's configuration, which
    /// honest work changes through git and only persist.git_config can judge by its keys; or
    /// a persistence rule the policy sets to alert). The plan notes those locations in the
    /// kernel: the write is let be, and its record is rescued from the flood all the same.
    func testAWriteNoGuardActsOnStillArrives() throws {
        let home = scratch + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let gitconfig = home + "/.gitconfig"
        let plan = GuardPlan.compile(.default, slots: try AgentSlots.assign(.default, kernel: [:], inUse: []), homes: [home])
        XCTAssertEqual(plan.undoOnly.first { $0.path == gitconfig }?.protection, Protection.note.rawValue, "git's configuration is noted")
        let r = try flood(then: gitconfig, text: "[core]\n\tfsmonitor = /tmp/x", mode: .enforce, plan: plan)
        XCTAssertGreaterThan(r.stats.drops, 0, "the flood must overflow a 4 KiB ring")
        XCTAssertGreaterThanOrEqual(r.stats.rescued, 1)
        let write = try XCTUnwrap(r.events.first { $0.kind == .open && $0.path == gitconfig }, "the git config write was lost with the flood")
        XCTAssertEqual(write.guardActions, [.noted], "noted, nothing done")
        XCTAssertEqual(try String(contentsOfFile: gitconfig, encoding: .utf8), "[core]\n\tfsmonitor = /tmp/x", "no guard acts there: the rule decides")
    }

    /// Variant: what matters is a credential read (a read no guard acts on: the session is
    /// judged after it) and the program the member runs next. Credential locations are noted
    /// in the kernel, and execs are kept: both records are rescued from the flood, and the
    /// read is judged as a credential read.
    func testACredentialReadAndAnExecStillArrive() throws {
        let plan = GuardPlan.compile(.default, slots: try AgentSlots.assign(.default, kernel: [:], inUse: []), homes: [scratch])
        XCTAssertEqual(plan.secrets.first { $0.path == "/etc/shadow" }?.protection, Protection.secret.rawValue, "the shadow file is noted")
        XCTAssertEqual(plan.secrets.first { $0.path == scratch + "/.ssh" }?.protection, Protection([.secret, .directory]).rawValue)
        let r = try flood(["open", "/etc/shadow", "r", "exec", "/bin/true"], mode: .monitor, plan: plan)
        XCTAssertGreaterThan(r.stats.drops, 0, "the flood must overflow a 4 KiB ring")
        XCTAssertGreaterThanOrEqual(r.stats.rescued, 2)
        let read = try XCTUnwrap(r.events.first { $0.kind == .open && $0.path == "/etc/shadow" }, "the credential read was lost with the flood")
        XCTAssertEqual(read.guardActions, [.noted], "noted, nothing done")
        XCTAssertTrue(read.succeeded)
        let finding = try XCTUnwrap(r.alerts.first { $0.rule == "escape.credentials" }, "\(r.alerts.map(\.rule))")
        XCTAssertEqual(finding.path, "/etc/shadow")
        XCTAssertEqual(finding.session, r.session.description)
        XCTAssertNotNil(r.events.first { $0.kind == .exec && $0.path == "/usr/bin/true" }, "the exec was lost with the flood: \(r.events.map(\.kind))")
    }
}
