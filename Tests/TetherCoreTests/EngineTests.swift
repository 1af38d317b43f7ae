import XCTest
@testable import TetherCore

/// The engine: modes, dedupe, overrides, fallbacks, failures, findings' contents.
final class EngineTests: XCTestCase {
    func testMonitorModeSaysWhatEnforceWouldDo() {
        let s = Scenario()
        let f = s.feed([E.write("/etc/cron.d/x")])
        XCTAssertEqual(f.count, 1)
        XCTAssertEqual(f.first?.rule, "persist.cron")
        XCTAssertEqual(f.first?.action, .kill)
        XCTAssertEqual(f.first?.enforced, false)
        XCTAssertTrue(f.first?.summary.contains("would kill") ?? false, f.first?.summary ?? "")
    }

    func testEnforceModeAndPolicyOverrides() {
        let p = policy(extra: "  mode: enforce\n", rules: "persist.cron: {severity: medium, action: stop}")
        let s = Scenario(policy: p)
        let f = s.feed([E.write("/etc/cron.d/x"), E.write("/etc/profile.d/x.sh")])
        XCTAssertEqual(f.map(\.rule), ["persist.cron", "persist.shell_startup"])
        XCTAssertEqual(f[0].severity, .medium)
        XCTAssertEqual(f[0].action, .stop)
        XCTAssertTrue(f[0].enforced)
        XCTAssertEqual(f[1].severity, .high, "other rules keep their defaults")
        XCTAssertEqual(f[1].action, .kill)
    }

    func testFamilyGlobThenExactId() {
        let text = """
        version: 1
        defaults:
          rules:
            persist.*: {action: alert}
            persist.ssh: {action: stop}
        """
        let p = try! Policy.parse(text, file: "t.yaml")
        let s = Scenario(policy: p)
        let f = s.feed([E.write("/etc/cron.d/x"), E.write("/root/.ssh/authorized_keys")])
        XCTAssertEqual(f.map(\.action), [.alert, .stop])
    }

    func testDisabledRuleAndFallbackTakesOver() {
        // With persist.cron off, the write is still outside the boundary.
        let s = Scenario(policy: policy(rules: "persist.cron: {enabled: false}"))
        XCTAssertEqual(s.feed([E.write("/etc/cron.d/x")]).map(\.rule), ["escape.write"])
    }

    func testOneFindingPerSubject() {
        let s = Scenario()
        let f = s.feed([E.write("/etc/cron.d/x"), E.write("/etc/cron.d/x"), E.open("/etc/cron.d/x", "wa"), E.write("/etc/cron.d/y")])
        XCTAssertEqual(f.count, 2)
    }

    func testIgnoreExeAndIgnorePaths() {
        let p = policy(rules: """
        escape.namespace: {ignore_exe: ["/usr/lib/chromium/*"]}
            escape.write: {ignore_paths: ["~/.config/matplotlib/**", "/opt/cache"]}
        """)
        let s = Scenario(policy: p)
        let unshare = E.flagsOp(.unshare, 0x1000_0000, pid: 200)
        var f = s.feed([E.fork(100, 200), E.exec("/usr/lib/chromium/chromium", ["chromium"], pid: 200), unshare])
        XCTAssertEqual(f.map(\.rule), [], "chromium's sandbox ignored")
        f = s.feed([E.flagsOp(.unshare, 0x1000_0000)])
        XCTAssertEqual(f.map(\.rule), ["escape.namespace"], "node is not chromium")
        f = s.feed([E.write("/home/dev/.config/matplotlib/fontlist.json"), E.write("/opt/cache"), E.write("/opt/other")])
        XCTAssertEqual(f.map(\.message), ["outside the boundary: /opt/other created"])
    }

    func testRuleFailureIsLoggedNotFatal() {
        struct Broken: Rule {
            struct Oops: Error {}
            let info = RuleInfo(id: "persist.cron", severity: .low, action: .alert, mitre: "T0", kinds: [.open], title: "broken")
            func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? { throw Oops() }
        }
        let c = Classifier(policy: .default, rules: [Broken(), EscapeWrite()])
        var logged: [String] = []
        c.log = { logged.append($0) }
        c.homeDirectory = { _ in "/home/dev" }
        c.beginSession(Scenario.session, rootPid: 100, workspace: "/home/dev/proj", agent: nil, time: 1)
        let table = ProcessTable()
        var e = E.write("/opt/x")
        table.apply(&e)
        let f = c.process(e, table: table)
        XCTAssertEqual(f.map(\.rule), ["escape.write"], "the other rules still run")
        XCTAssertEqual(c.ruleFailures, 1)
        XCTAssertEqual(logged.count, 1)
        XCTAssertTrue(logged[0].contains("persist.cron"), logged[0])
    }

    /// A deputy's child is adopted into the session; the deputy (the operator's tmux
    /// server) is not made a member by the fork record it appears in.
    func testADeputysChildJoinsTheSessionAndTheDeputyDoesNot() {
        let table = ProcessTable()
        var f = E.fork(4242, 4300)
        f.adoptedFrom = 4242
        table.apply(&f)
        XCTAssertNotNil(table.live[4300], "the adopted child is followed")
        XCTAssertEqual(table.live[4300]?.ppid, 4242)
        XCTAssertNil(table.live[4242], "the deputy is no member")
        XCTAssertEqual(table.members(of: f.session).map(\.pid), [4300])
    }

    func testFindingCarriesAncestryEventsAndJSON() throws {
        let s = Scenario()
        let f = s.feed([
            E.fork(100, 200), E.exec("/bin/bash", ["bash", "-c", "echo key >> ~/.ssh/authorized_keys"], pid: 200),
            E.open("/home/dev/.ssh/authorized_keys", "wca", pid: 200),
        ])
        XCTAssertEqual(f.count, 1)
        let finding = try XCTUnwrap(f.first)
        XCTAssertEqual(finding.rule, "persist.ssh")
        XCTAssertEqual(finding.mitre, "T1098.004")
        XCTAssertEqual(finding.severity, .critical)
        XCTAssertEqual(finding.pid, 200)
        XCTAssertEqual(finding.ancestry.map(\.pid), [200, 100])
        XCTAssertEqual(finding.ancestry.first?.exe, "/bin/bash")
        XCTAssertEqual(finding.ancestry.last?.exe, "/usr/bin/node")
        XCTAssertEqual(finding.events.last?.path, "/home/dev/.ssh/authorized_keys")
        XCTAssertEqual(finding.agent, "default")
        XCTAssertEqual(finding.action, .kill)
        XCTAssertFalse(finding.enforced)
        XCTAssertEqual(finding.ancestry.first?.argv, ["bash", "-c", "echo key >> ~/.ssh/authorized_keys"])
        XCTAssertEqual(finding.events.last?.kind, .open)
    }

    func testSeverityOrder() {
        XCTAssertLessThan(Severity.low, .medium)
        XCTAssertLessThan(Severity.medium, .high)
        XCTAssertLessThan(Severity.high, .critical)
        XCTAssertEqual(Severity.allCases.max(), .critical)
    }

    /// The kernel decides a session's agent; the classifier takes it from the events and
    /// never guesses again: a session whose events name no agent runs under the defaults,
    /// even when a selector of another agent would match its process.
    func testASessionRunsUnderTheAgentItsEventsCarry() {
        let p = policy(agents: """
        agents:
          - name: claude
            mode: enforce
            match: {comm: [claude]}
            boundary:
              writable: [/opt/claude-scratch]
        """)
        let c = Classifier(policy: p)
        c.homeDirectory = { _ in "/home/dev" }
        let table = ProcessTable()
        let sid = SessionID(0x8000_0000_0000_0042)
        var start = Event(kind: .exec, time: 10, pid: 500, ppid: 1, uid: 1000, session: sid, comm: "claude")
        start.path = "/usr/bin/node"
        start.argv = ["claude"]
        start.cwd = "/home/dev/work"
        start.sessionStart = true
        start.agent = "claude"
        start.enforcement = .enforce
        table.apply(&start)
        XCTAssertTrue(c.process(start, table: table).isEmpty)
        XCTAssertEqual(c.session(sid)?.agent.name, "claude")
        XCTAssertEqual(c.session(sid)?.workspacePath, "/home/dev/work")
        for (path, expect) in [("/home/dev/work/a.c", 0), ("/opt/claude-scratch/x", 0), ("/tmp/x", 0), ("/opt/x", 1)] {
            var w = Event(kind: .open, time: 11, pid: 500, uid: 1000, session: sid, result: 3, comm: "claude")
            w.path = path
            w.flags = OpenFlags.writeOnly | OpenFlags.create
            w.agent = "claude"
            w.enforcement = .enforce
            table.apply(&w)
            let f = c.process(w, table: table)
            XCTAssertEqual(f.count, expect, path)
            if let x = f.first { XCTAssertTrue(x.enforced); XCTAssertEqual(x.agent, "claude") }
        }
        // the same process, but the kernel named no agent: the defaults, in the kernel's mode
        let other = SessionID(0x8000_0000_0000_0043)
        var w = Event(kind: .open, time: 12, pid: 600, ppid: 1, uid: 1000, session: other, result: 3, comm: "claude")
        w.path = "/opt/claude-scratch/y"
        w.flags = OpenFlags.writeOnly | OpenFlags.create
        table.apply(&w)
        let f = c.process(w, table: table)
        XCTAssertEqual(c.session(other)?.agent.name, "default")
        XCTAssertEqual(f.map(\.rule), ["escape.write"], "claude's writable root is claude's only")
        XCTAssertEqual(f.first?.enforced, false, "monitor: what the kernel said for this session")
    }

    /// A reload hands the sessions to a classifier of the new policy: a session keeps its
    /// state (its root, what was reported) and is judged under its agent as newly compiled.
    func testAReloadKeepsSessionStateAndAppliesTheNewAgent() {
        let before = policy(agents: "agents:\n  - name: a\n    match: {comm: [a]}\n")
        let after = policy(agents: "agents:\n  - name: a\n    match: {comm: [a]}\n    boundary:\n      writable: [/opt/a]\n")
        let registry = SessionRegistry()
        let table = ProcessTable()
        let sid = SessionID(0x8000_0000_0000_0099)
        func write(_ path: String, _ c: Classifier) -> [String] {
            var w = Event(kind: .open, time: 20, pid: 700, ppid: 1, uid: 1000, session: sid, result: 3, comm: "a")
            w.path = path
            w.flags = OpenFlags.writeOnly | OpenFlags.create
            w.agent = "a"
            w.root = 650
            table.apply(&w)
            return c.process(w, table: table).map(\.rule)
        }
        let c1 = Classifier(policy: before, sessions: registry)
        c1.homeDirectory = { _ in "/home/dev" }
        XCTAssertEqual(write("/opt/a/x", c1), ["escape.write"])
        XCTAssertEqual(registry[sid]?.rootPid, 650, "the root the kernel's entry names, not the first pid seen")
        let c2 = Classifier(policy: after, sessions: registry)
        c2.homeDirectory = { _ in "/home/dev" }
        XCTAssertEqual(write("/opt/a/y", c2), [], "the new policy's writable root applies to the running session")
        XCTAssertEqual(write("/opt/b", c2), ["escape.write"])
        XCTAssertEqual(registry[sid]?.findingCount, 2, "one session state across both classifiers")
    }

    func testRootWorkspaceCountsAsNone() {
        let s = Scenario(workspace: "/")
        XCTAssertEqual(s.feed([E.write("/opt/x")]).map(\.rule), ["escape.write"])
    }

    func testCatalogIsConsistent() throws {
        let ids = RuleCatalog.all.map(\.id)
        XCTAssertEqual(Set(ids).count, ids.count, "rule ids are unique")
        let mitre = try NSRegularExpression(pattern: #"^(T\d{4}(\.\d{3})?|TA\d{4})$"#)
        for r in RuleCatalog.all {
            XCTAssertTrue(r.id.hasPrefix("persist.") || r.id.hasPrefix("escape.") || r.id.hasPrefix("evasion."), r.id)
            XCTAssertFalse(r.kinds.isEmpty, r.id)
            XCTAssertEqual(mitre.numberOfMatches(in: r.mitre, range: NSRange(r.mitre.startIndex..., in: r.mitre)), 1, "\(r.id): \(r.mitre)")
        }
        XCTAssertEqual(RuleCatalog.all.filter(\.fallback).map(\.id), ["escape.write", "escape.network"])
    }
}

/// The location index the engine uses instead of per-rule comparisons.
final class PlaceIndexTests: XCTestCase {
    func testEveryPlaceIsRegisteredOnce() {
        let registered = PlaceIndex.registry.map(\.place)
        XCTAssertEqual(Set(registered).count, registered.count, "a Place used by two location families")
        XCTAssertEqual(Set(registered).union([.tether]), Set(Place.allCases), "a Place no family registers")
        XCTAssertLessThanOrEqual(Place.allCases.count, 64)
    }

    /// The fast index and the plain comparison agree on every spec and on near misses.
    func testIndexAgreesWithPlainMatching() {
        let index = PlaceIndex(identity: TetherIdentity())
        let homes = HomeRoots(passwd: "/home/dev").set
        for l in PlaceIndex.registry {
            var probes: [String] = []
            for s in l.systemSpecs {
                let base = s.hasSuffix("/") ? String(s.dropLast()) : s
                probes += [base, base + "/x", base + "x", String(base.dropLast())]
            }
            for s in l.homeSpecs {
                let base = s.hasSuffix("/") ? String(s.dropLast()) : s
                for h in ["/home/dev/", "/home/bob/", "/root/"] { probes += [h + base, h + base + "/x", h + base + "x"] }
                probes.append("/home/dev/proj/" + base)
            }
            for p in probes {
                let fast = index.mask(p, homes: homes) & l.mask != 0
                XCTAssertEqual(fast, l.contains(p, homes: homes), "\(l.place): \(p)")
            }
        }
        XCTAssertNotEqual(index.mask("/etc/tether/policy.yaml", homes: nil) & Place.tether.mask, 0)
        XCTAssertNotEqual(index.mask("/usr/local/bin/tetherd", homes: nil) & Place.tether.mask, 0)
        XCTAssertEqual(index.mask("/usr/local/bin/tetherdx", homes: nil) & Place.tether.mask, 0)
    }
}
