import Foundation
import TetherCore
import TetherExport
import TetherProbe
import TetherResponse

/// Everything the daemon derives from one policy file, built whole before it replaces the
/// previous one: the agent selectors for the kernel's exec hook, the classifier, and the
/// guard plan for the kernel maps.
struct PolicyState {
    let policy: Policy
    let selectors: [AgentSelector]
    let classifier: Classifier
    let guards: GuardPlan

    static func load(path: String, protectedPids: Set<Int32>) throws -> PolicyState {
        let policy = try Policy.load(path: path)
        let classifier = Classifier(policy: policy)
        classifier.protectedPids = protectedPids
        classifier.log = { log("classifier: \($0)") }
        return PolicyState(policy: policy, selectors: selectors(policy), classifier: classifier, guards: GuardPlan.compile(policy))
    }

    /// The policy's agents as kernel watch selectors. Agent i is guard policy index i+1
    /// (index 0 is the defaults, for `tether run` and unmatched sessions). cgroup globs with
    /// wildcards cannot be exact kernel keys; the user-space match still names the agent.
    static func selectors(_ policy: Policy) -> [AgentSelector] {
        policy.agents.enumerated().map { i, a in
            AgentSelector(name: a.name, exe: a.match.exeGlobs, comm: a.match.comm, uid: a.match.uid,
                          cgroup: a.match.cgroupGlobs.filter { !$0.hasWildcards }.map(\.pattern),
                          target: Probe.WatchTarget(enforce: a.mode == .enforce, policy: UInt16(i + 1)))
        }
    }
}

extension AlertRecord {
    /// A classifier finding as the sinks carry it; `outcome` is what the response did.
    init(_ f: Finding, outcome: String) {
        let e = f.events.last
        var address: String?
        if let a = e?.addr {
            address = e?.family == .inet6 ? "[\(a)]:\(e?.port ?? 0)" : e?.family == .unix ? a : "\(a):\(e?.port ?? 0)"
        }
        self.init(rule: f.rule, severity: AlertSeverity(rawValue: f.severity.rawValue) ?? .high, mitre: f.mitre,
                  message: f.message, session: f.session.description, pid: f.pid,
                  exe: f.ancestry.first?.exe ?? e?.exe, path: e?.path, address: address,
                  action: f.action.rawValue, enforced: f.enforced, time: AlertRecord.wallClock(bootNanos: f.time),
                  details: ["outcome": outcome, "agent": f.agent])
    }
}
