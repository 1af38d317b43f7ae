/// ptrace of a process outside the session: reading or steering someone else's process.
/// Debugging the session's own processes (gdb, strace on a child) is ordinary; aiming at
/// Tether itself is `escape.tamper`.
struct EscapePtrace: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.ptrace", severity: .high, action: .kill, mitre: "T1055.008",
                                    kinds: [.ptrace],
                                    title: "ptrace of processes outside the session")

    static let traceme: Int64 = 0

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard e.request != EscapePtrace.traceme, let t = e.target, t > 0, t != e.pid,
              !ctx.isMember(t), !ctx.protectedPids.contains(t) else { return nil }
        let who = ctx.externalProcess(t).map { " (\($0.exe))" } ?? ""
        return RuleHit("ptrace of pid \(t)\(who) outside the session (request \(e.request ?? -1))\(e.outcomeNote)", subject: "pid:\(t)")
    }
}
