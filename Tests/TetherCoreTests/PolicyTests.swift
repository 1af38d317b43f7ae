import XCTest
@testable import TetherCore

final class PolicyTests: XCTestCase {
    static let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../systemd/policy.yaml").standardized.path

    func testShippedPolicyIsTheBuiltInPolicy() throws {
        let p = try Policy.load(path: PolicyTests.shipped)
        XCTAssertEqual(p.defaults, Policy.default.defaults)
        XCTAssertEqual(p.agents, Policy.default.agents)
        XCTAssertEqual(p, Policy.default)
        XCTAssertEqual(p.defaults.mode, .monitor)
        XCTAssertEqual(p.defaults.gracePeriod, 10)
        XCTAssertTrue(p.defaults.boundary.writable.contains("/tmp"))
        XCTAssertTrue(p.defaults.boundary.network.allowLoopback)
    }

    func testMinimalPolicyTakesBuiltInDefaults() throws {
        let p = try Policy.parse("version: 1\n", file: "min.yaml")
        XCTAssertEqual(p.defaults, Policy.builtinDefaults)
        XCTAssertTrue(p.agents.isEmpty)
        // The daemon's agents-only files (no version) load too.
        let a = try Policy.parse("agents:\n  - name: x\n    match:\n      comm: [agent]\n", file: "a.yaml")
        XCTAssertEqual(a.agents.map(\.name), ["x"])
        XCTAssertEqual(a.agents.first?.boundary, Policy.builtinDefaults.boundary)
        // a host's own servers that run commands, judged as the built-in deputies
        let d = try Policy.parse("version: 1\ndeputies: [/usr/local/sbin/jobd, /opt/x/../bin/runner]\n", file: "d.yaml")
        XCTAssertEqual(d.deputies, [Deputy("/usr/local/sbin/jobd"), Deputy("/opt/bin/runner")])
        XCTAssertEqual(Deputies.all(policy: d.deputies).suffix(2).map(\.name), ["jobd", "runner"])
        XCTAssertTrue(p.deputies.isEmpty)
        // one an interpreter runs: by its interpreter and script; never the interpreter alone
        let s = try Policy.parse("version: 1\ndeputies:\n  - /usr/local/sbin/jobd\n  - {interpreter: /usr/bin/python3, script: /opt/q/../runner.py}\n", file: "s.yaml")
        XCTAssertEqual(s.deputies, [Deputy("/usr/local/sbin/jobd"), Deputy("/usr/bin/python3", script: "/opt/runner.py")])
        XCTAssertFalse(Deputies.all(policy: s.deputies).contains { $0.paths.contains("/usr/bin/python3") }, "every python would be a deputy")
        XCTAssertEqual(Deputies.scripted(policy: s.deputies).map(\.name), ["runner.py"])
        XCTAssertEqual(Deputies.scripted(policy: s.deputies).map(\.kind), [Deputies.all(policy: s.deputies).last!.kind + 1])
    }

    func testAgentsInheritAndExtendDefaults() throws {
        let text = """
        version: 1
        defaults:
          mode: monitor
          grace_period: 30
          boundary:
            writable: [/tmp]
            network:
              allow: [10.0.0.0/8]
          rules:
            escape.network: {action: alert}
        agents:
          - name: builder
            mode: enforce
            match:
              exe: [/opt/agents/*/bin/agent, "/usr/**/builder"]
              uid: [1001]
            workspace: [/srv/build]
            boundary:
              writable: [~/.ccache]
              network:
                allow:
                  - cidr: 192.168.0.0/16
                    ports: [8080, "9000-9100"]
            rules:
              escape.network: {severity: high}
        """
        let p = try Policy.parse(text, file: "a.yaml")
        let a = try XCTUnwrap(p.agents.first)
        XCTAssertEqual(a.name, "builder")
        XCTAssertEqual(a.mode, .enforce)
        XCTAssertEqual(a.gracePeriod, 30, "inherited")
        XCTAssertEqual(a.boundary.writable, ["/tmp", "~/.ccache"], "lists add to the defaults'")
        XCTAssertEqual(a.boundary.workspace, ["/srv/build"])
        XCTAssertEqual(a.boundary.network.allow.count, 2)
        let net = a.boundary.network
        XCTAssertTrue(net.allows(IPAddress("10.9.9.9")!, port: 1))
        XCTAssertTrue(net.allows(IPAddress("192.168.1.1")!, port: 9050))
        XCTAssertFalse(net.allows(IPAddress("192.168.1.1")!, port: 9101))
        XCTAssertFalse(net.allows(IPAddress("8.8.8.8")!, port: 443))
        XCTAssertTrue(net.allows(IPAddress("127.0.0.1")!, port: 1))
        let s = a.settings(for: RuleCatalog.info("escape.network")!)
        XCTAssertEqual(s.action, .alert)
        XCTAssertEqual(s.severity, .high)
        // Matching: any entry of any field selects (as the kernel's watches do).
        XCTAssertEqual(p.selectAgent(exe: "/opt/agents/x/bin/agent", cgroup: nil, comm: "agent", uid: 1000)?.name, "builder")
        XCTAssertEqual(p.selectAgent(exe: "/usr/local/lib/builder", cgroup: nil, comm: "builder", uid: 0)?.name, "builder")
        XCTAssertEqual(p.selectAgent(exe: "/usr/bin/bash", cgroup: nil, comm: "bash", uid: 1001)?.name, "builder", "by uid")
        XCTAssertNil(p.selectAgent(exe: "/opt/agents/x/y/bin/agent", cgroup: nil, comm: "agent", uid: 1000), "* does not cross /")
        XCTAssertEqual(p.agent(named: "nope").name, "default")
    }

    /// Every kind of error, with its line and column.
    func testTermActionAndItsGrace() throws {
        let p = try Policy.parse("version: 1\ndefaults:\n  term_grace: 2s\n  rules:\n    persist.cron: {action: term}\n", file: "t.yaml")
        XCTAssertEqual(p.defaults.termGrace, 2)
        let info = try XCTUnwrap(RuleCatalog.info("persist.cron"))
        XCTAssertEqual(p.defaults.settings(for: info).action, .term)
        XCTAssertEqual(Policy.default.defaults.termGrace, 5)
        XCTAssertThrowsError(try Policy.parse("version: 1\ndefaults:\n  rules:\n    persist.cron: {action: terminate}\n", file: "t.yaml")) {
            XCTAssertTrue("\($0)".contains("action must be alert, stop, term or kill"), "\($0)")
        }
    }

    func testErrorsHaveLineAndColumn() {
        let cases: [(String, String, String)] = [
            ("unknown top-level key", "version: 1\nagent: []\n", "t.yaml:2:1: unknown key 'agent' in the policy (did you mean 'agents'?)"),
            ("unknown nested key", "version: 1\ndefaults:\n  boundary:\n    writeable: []\n", "t.yaml:4:5: unknown key 'writeable'"),
            ("wrong type: list expected", "version: 1\ndefaults:\n  boundary:\n    writable: /tmp\n", "t.yaml:4:15: writable must be a list, not '/tmp'"),
            ("wrong type: mapping expected", "version: 1\ndefaults: [1]\n", "t.yaml:2:11: defaults must be a mapping"),
            ("wrong type: integer", "version: one\n", "t.yaml:1:10: version must be an integer"),
            ("wrong type: bool", "version: 1\ndefaults:\n  rules:\n    escape.bpf: {enabled: 1}\n", "t.yaml:4:27: enabled must be true or false"),
            ("bad enum", "version: 1\ndefaults:\n  mode: enforcing\n", "t.yaml:3:9: mode must be 'monitor' or 'enforce'"),
            ("bad glob", "version: 1\nagents:\n  - name: a\n    match:\n      exe: ['/usr/bin/[a']\n", "t.yaml:5:13: bad glob '/usr/bin/[a': unclosed '['"),
            ("relative exe", "version: 1\nagents:\n  - name: a\n    match:\n      exe: [bin/a]\n", "t.yaml:5:13: exe 'bin/a' must be an absolute path"),
            ("long comm", "version: 1\nagents:\n  - name: a\n    match:\n      comm: [abcdefghijklmnop]\n", "t.yaml:5:14: comm 'abcdefghijklmnop' is 16 bytes"),
            ("bad CIDR", "version: 1\ndefaults:\n  boundary:\n    network:\n      allow: [10.0.0.0/33]\n", "t.yaml:5:15: '10.0.0.0/33': prefix length must be 0...32"),
            ("host bits", "version: 1\ndefaults:\n  boundary:\n    network:\n      allow: [10.1.0.0/8]\n", "did you mean 10.0.0.0/8?"),
            ("bad port", "version: 1\ndefaults:\n  boundary:\n    network:\n      allow:\n        - cidr: ::/0\n          ports: [70000]\n", "t.yaml:7:19: '70000' is not a port"),
            ("unknown rule", "version: 1\ndefaults:\n  rules:\n    persist.crom: {}\n", "t.yaml:4:5: unknown rule 'persist.crom' (did you mean 'persist.cron'?)"),
            ("duplicate key", "version: 1\nversion: 1\n", "t.yaml:2:1: key 'version' appears twice in the policy (first at 1:1)"),
            ("YAML syntax", "version: 1\ndefaults: {mode: monitor\n", "t.yaml:3:1: YAML syntax"),
            ("top level is a list", "- 1\n", "t.yaml:1:1: the policy must be a mapping"),
            ("future version", "version: 2\n", "t.yaml:1:10: unsupported policy version 2"),
            ("empty file", "", "t.yaml:1:1: the policy is empty"),
            ("relative root", "version: 1\ndefaults:\n  boundary:\n    writable: [tmp]\n", "t.yaml:4:16: writable root 'tmp' must be absolute"),
            ("a value with a line break stays on its error's line", "version: 1\ndefaults:\n  workspace: [\"w\\nx\"]\n", "t.yaml:3:15: workspace root 'w\\nx' must be absolute"),
            ("relative deputy", "version: 1\ndeputies: [jobd]\n", "t.yaml:2:12: a deputy's executable is an absolute path, not 'jobd'"),
            ("deputies not a list", "version: 1\ndeputies: /usr/sbin/jobd\n", "t.yaml:2:11: deputies must be a list"),
            ("scripted deputy without its script", "version: 1\ndeputies:\n  - {interpreter: /usr/bin/python3}\n",
             "t.yaml:3:5: a deputy run by an interpreter names both its interpreter and its script"),
            ("relative script", "version: 1\ndeputies:\n  - {interpreter: /usr/bin/python3, script: run.py}\n",
             "t.yaml:3:45: a deputy's script is an absolute path, not 'run.py'"),
            ("unknown deputy key", "version: 1\ndeputies:\n  - {interpreter: /usr/bin/python3, scrip: /r.py}\n",
             "t.yaml:3:37: unknown key 'scrip' in a deputy (did you mean 'script'?)"),
            ("root /", "version: 1\ndefaults:\n  workspace: [/]\n", "t.yaml:3:15: workspace root '/' would cover the whole host"),
            ("empty match", "version: 1\nagents:\n  - name: a\n    match: {}\n", "t.yaml:4:12: agent 'a' match is empty"),
            ("no match", "version: 1\nagents:\n  - name: a\n", "t.yaml:3:5: agent 'a' has no 'match'"),
            ("reserved name", "version: 1\nagents:\n  - name: default\n    match: {uid: [0]}\n", "t.yaml:3:11: agent name 'default' is reserved"),
            ("bad duration", "version: 1\ndefaults:\n  grace_period: -5\n", "t.yaml:3:17: grace_period '-5' is not a duration"),
            ("bad severity", "version: 1\ndefaults:\n  rules:\n    escape.bpf: {severity: urgent}\n", "t.yaml:4:28: severity must be low, medium, high or critical"),
        ]
        for (name, text, expected) in cases {
            do {
                _ = try Policy.parse(text, file: "t.yaml")
                XCTFail("\(name): parsed without error")
            } catch let e as PolicyLoadError {
                XCTAssertTrue(e.description.contains(expected), "\(name): expected '\(expected)' in:\n\(e.description)")
            } catch {
                XCTFail("\(name): unexpected error type \(error)")
            }
        }
    }

    func testAllErrorsReportedInFileOrderAndNothingLoads() {
        let text = """
        version: 1
        defaults:
          mode: sometimes
          boundary:
            writable: [relative]
        agents:
          - name: a
            match: {comm: [waytoolongcommandname]}
            colour: red
        """
        XCTAssertThrowsError(try Policy.parse(text, file: "p.yaml")) { error in
            let e = error as! PolicyLoadError
            XCTAssertEqual(e.errors.map { "\($0.line):\($0.column)" }, ["3:9", "5:16", "8:20", "9:5"])
            XCTAssertTrue(e.description.hasPrefix("p.yaml:3:9: "), e.description)
        }
    }

    func testLoadMissingFile() {
        XCTAssertThrowsError(try Policy.load(path: "/nonexistent/policy.yaml")) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/policy.yaml: cannot read the policy"), "\(error)")
        }
    }

    func testDurations() throws {
        for (text, secs) in [("30", 30.0), ("1.5", 1.5), ("30s", 30), ("5m", 300), ("1h", 3600), ("250ms", 0.25), ("'45s'", 45)] {
            let p = try Policy.parse("version: 1\ndefaults:\n  grace_period: \(text)\n", file: "d.yaml")
            XCTAssertEqual(p.defaults.gracePeriod, secs, accuracy: 1e-9, text)
        }
    }
}

final class GlobTests: XCTestCase {
    func testMatching() throws {
        let rows: [(String, String, Bool)] = [
            ("/usr/bin/claude", "/usr/bin/claude", true),
            ("/usr/bin/claude", "/usr/bin/claudex", false),
            ("/usr/bin/*", "/usr/bin/node", true),
            ("/usr/bin/*", "/usr/bin/x/y", false),
            ("/home/*/.local/bin/*", "/home/dev/.local/bin/claude", true),
            ("/opt/**/agent", "/opt/agent", true),
            ("/opt/**/agent", "/opt/a/b/c/agent", true),
            ("/opt/**", "/opt/a/b", true),
            ("/opt/**", "/optx", false),
            ("/usr/bin/python3.1?", "/usr/bin/python3.11", true),
            ("/usr/bin/python3.1?", "/usr/bin/python3.1", false),
            ("/dev/sd[a-c]", "/dev/sdb", true),
            ("/dev/sd[a-c]", "/dev/sdd", false),
            ("/dev/sd[!a]", "/dev/sdb", true),
            ("/dev/sd[!a]", "/dev/sda", false),
            ("/a/\\*", "/a/*", true),
            ("/a/\\*", "/a/b", false),
            ("/a/[]]", "/a/]", true),
            ("*.json*", "x.json.bak", true),
        ]
        for (pattern, path, expect) in rows {
            XCTAssertEqual(try Glob(pattern).matches(path), expect, "\(pattern) vs \(path)")
        }
    }

    /// Several `**` in one pattern once backtracked exponentially (a 60-character path took
    /// 13 s). The search is bounded by states, not by time: held to a count here.
    func testManyDoubleStarsStayPolynomial() throws {
        let g = try Glob("/**a**b**c**d**e**f**g**h")
        let path = "/" + String(repeating: "ab/", count: 20)
        var text = path
        let r = text.withUTF8 { g.match($0) }
        XCTAssertFalse(r.matched)
        let tokens = 17, bytes = path.utf8.count
        XCTAssertLessThan(r.steps, Glob.stepBudget + 2 * (tokens + 1) * (bytes + 1) * (bytes + 1), "steps: \(r.steps)")
        XCTAssertTrue(try Glob("/**a**b**c").matches("/xa/yb/zc"))
        XCTAssertTrue(try Glob("/**/x/**/y").matches("/a/b/x/c/y"))
        XCTAssertFalse(try Glob("/**/x/**/y").matches("/a/b/x/c/z"))
    }

    func testSyntaxErrors() {
        for bad in ["/a/[bc", "/a/\\", "/a/[z-a]", "["] {
            XCTAssertThrowsError(try Glob(bad), bad)
        }
    }
}

final class CIDRTests: XCTestCase {
    func testContains() throws {
        let rows: [(String, String, Bool)] = [
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("0.0.0.0/0", "203.0.113.1", true),
            ("0.0.0.0/0", "2001:db8::1", false),
            ("::/0", "2001:db8::1", true),
            ("10.0.0.0/8", "::ffff:10.1.1.1", true),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("192.168.1.7", "192.168.1.7", true),
            ("192.168.1.7", "192.168.1.8", false),
        ]
        for (c, a, expect) in rows {
            XCTAssertEqual(try CIDR(c).contains(XCTUnwrap(IPAddress(a))), expect, "\(c) ∋ \(a)")
        }
    }

    func testLoopbackAndErrors() {
        XCTAssertTrue(IPAddress("127.0.0.53")!.isLoopback)
        XCTAssertTrue(IPAddress("::1")!.isLoopback)
        XCTAssertTrue(IPAddress("0.0.0.0")!.isLoopback)
        XCTAssertFalse(IPAddress("10.0.0.1")!.isLoopback)
        XCTAssertEqual(IPAddress("::ffff:1.2.3.4")?.description, "1.2.3.4")
        for bad in ["10.0.0.0/33", "1.2.3", "fe80::/129", "10.0.0.1/8", "x"] {
            XCTAssertThrowsError(try CIDR(bad), bad)
        }
    }
}
