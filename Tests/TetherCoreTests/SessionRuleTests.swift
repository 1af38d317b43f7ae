import XCTest
@testable import TetherCore

/// Rules over the session's life: daemonizing and outliving the session.
final class SessionRuleTests: XCTestCase {
    let sec: UInt64 = 1_000_000_000

    func testDaemonize() {
        check("persist.daemonize", fire: [
            // Classic daemon(3): fork, the parent exits, the child calls setsid.
            R("fork, parent exits, setsid", E.fork(100, 200), E.fork(200, 201), E.exit(200), E.setsid(201)),
            // Or the child detaches first and the parent exits after.
            R("setsid, then the parent exits", E.fork(100, 200), E.fork(200, 201), E.setsid(201), E.exit(200)),
            R("double fork: grandchild of a detached parent", E.fork(100, 200), E.fork(200, 201), E.setsid(201),
              E.fork(201, 202), E.exit(201)),
        ], quiet: [
            // node's `detached: true` child: setsid, but the parent stays.
            R("setsid with the parent alive", E.fork(100, 200), E.setsid(200), E.exit(200)),
            R("parent exits without any setsid (shell pipeline)", E.fork(100, 200), E.fork(200, 201), E.exit(200), E.exit(201)),
            R("the root's own children are outlived_session's", E.fork(100, 200), E.setsid(200)),
        ])
    }

    func testOutlivedSession() {
        let grace = UInt64(Policy.default.defaults.gracePeriod) * sec
        // A survivor found by tick() once the grace period ends.
        let s = Scenario()
        s.feed([E.fork(100, 200), E.exit(100)])
        let exitTime = s.time
        XCTAssertTrue(s.classifier.tick(now: exitTime + grace - 1, table: s.table).isEmpty, "inside the grace period")
        let found = s.classifier.tick(now: exitTime + grace, table: s.table)
        XCTAssertEqual(found.map(\.rule), ["persist.outlived_session"])
        XCTAssertEqual(found.first?.pid, 200)
        XCTAssertEqual(found.first?.severity, .critical)
        XCTAssertEqual(found.first?.mitre, "TA0003")
        XCTAssertTrue(s.classifier.tick(now: exitTime + 2 * grace, table: s.table).isEmpty, "reported once")

        // A survivor that acts later is reported by its event (and only once).
        var late = E.open("/etc/hostname", pid: 200)
        late.time = exitTime + grace + sec
        var late2 = E.fork(200, 300)
        late2.time = exitTime + grace + 2 * sec
        var late3 = E.open("/etc/hostname", pid: 300)
        late3.time = exitTime + grace + 3 * sec
        let t = Scenario()
        t.feed([E.fork(100, 200), E.exit(100)])
        let out = t.feed([late, late2, late3]).filter { $0.rule == "persist.outlived_session" }
        XCTAssertEqual(out.map(\.pid), [200, 300])

        var afterGrace = E.open("/etc/hostname", pid: 200)
        afterGrace.time = 1_000_000_000 + 60 * sec
        check("persist.outlived_session", fire: [
            Row("member acts after the grace period", [E.fork(100, 200), E.exit(100), afterGrace]),
        ], quiet: [
            Row("members exit within the grace period", [E.fork(100, 200), E.exit(200), E.exit(100), afterGraceOf(100)]),
            Row("root alive: nothing outlives", [E.fork(100, 200), afterGrace]),
            Row("grace disabled for the rule", [E.fork(100, 200), E.exit(100), afterGrace],
                policy: policy(rules: "persist.outlived_session: {enabled: false}")),
        ])
    }

    func testOutlivedSessionGraceFromPolicy() throws {
        let p = policy(extra: "  grace_period: 2m\n")
        XCTAssertEqual(p.defaults.gracePeriod, 120)
        let s = Scenario(policy: p)
        s.feed([E.fork(100, 200), E.exit(100)])
        XCTAssertTrue(s.classifier.tick(now: s.time + 119 * sec, table: s.table).isEmpty)
        XCTAssertEqual(s.classifier.tick(now: s.time + 120 * sec, table: s.table).count, 1)
    }

    private func afterGraceOf(_ pid: Int32) -> Event {
        var e = E.simple(.setsid, pid: pid)
        e.time = 1_000_000_000 + 60 * sec
        return e
    }
}

/// A policy: version 1, `defaults` with `extra` lines and optional rules.
func policy(extra: String = "", rules: String? = nil, agents: String = "") -> Policy {
    var text = "version: 1\n"
    if extra.isEmpty, rules == nil { text += "defaults: {}\n" } else { text += "defaults:\n" + extra }
    if let rules { text += "  rules:\n    \(rules)\n" }
    text += agents
    do { return try Policy.parse(text, file: "test.yaml") } catch {
        XCTFail("test policy does not parse: \(error)\n\(text)")
        return .default
    }
}
