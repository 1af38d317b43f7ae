/// The persistence that matters most: a session member still alive after the session's
/// root exited and the grace period passed. `Classifier.tick` finds the survivors once
/// the grace period ends; this rule catches any member (or new child of one) that shows
/// itself with an event later.
struct OutlivedSession: Rule {
    static let id = "persist.outlived_session"
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: OutlivedSession.id, severity: .critical, action: .kill, mitre: "TA0003",
                                    kinds: EventKind.allCases.filter { $0 != .exit }, opens: .all,
                                    title: "a session member still alive after the root exited and the grace period passed")

    static func graceNanos(_ agent: AgentPolicy) -> UInt64 {
        UInt64(min(max(0, agent.gracePeriod), PolicyLimits.maxSeconds) * 1e9) // bounded: never a trap
    }

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        let s = ctx.session
        guard let exit = s.rootExitTime, e.pid != s.rootPid,
              e.time >= exit &+ OutlivedSession.graceNanos(s.agent) else { return nil }
        let late = Double(e.time - exit) / 1e9
        return RuleHit("process outlived its session: the root (pid \(s.rootPid)) exited \(Self.format(late)) ago, grace period \(Self.format(s.agent.gracePeriod))",
                       subject: "outlived", perProcess: true)
    }

    static func hit(pid: Int32, record: ProcessRecord, ctx: RuleContext, now: UInt64) -> RuleHit {
        let s = ctx.session
        let late = Double(now &- (s.rootExitTime ?? now)) / 1e9
        let name = record.exe.isEmpty ? record.comm : record.exe
        return RuleHit("process \(name) outlived its session: the root (pid \(s.rootPid)) exited \(format(late)) ago, grace period \(format(s.agent.gracePeriod))",
                       subject: "outlived", pid: pid, perProcess: true)
    }

    static func format(_ secs: Double) -> String {
        secs >= 10 || secs == secs.rounded() ? "\(Int(secs))s" : "\((secs * 10).rounded() / 10)s"
    }
}
