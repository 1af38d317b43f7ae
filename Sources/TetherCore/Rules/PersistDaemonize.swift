/// A process that daemonizes: it started a new session (setsid) and its parent exited, so
/// it is reparented away from the session's tree. Either order counts (fork-exit-setsid,
/// or setsid then the parent exits). A setsid whose parent stays (terminals, detached
/// children of node, tmux clients) is ordinary; the root's own exit is
/// `persist.outlived_session`'s business.
struct PersistDaemonize: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.daemonize", severity: .medium, action: .alert, mitre: "TA0003",
                                    kinds: [.setsid, .exit],
                                    title: "a session member daemonizes (setsid and reparented away from the session)")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        let s = ctx.session
        switch e.kind {
        case .setsid:
            guard e.succeeded, e.pid != s.rootPid, s.orphaned.contains(e.pid) else { return nil }
            return RuleHit("process daemonized: its parent exited and it started a new session (setsid)",
                           subject: "daemonize", perProcess: true)
        case .exit:
            guard e.pid != s.rootPid, let kids = s.children[e.pid] else { return nil }
            for c in kids.sorted() where s.detached.contains(c) && ctx.isMember(c) {
                return RuleHit("process daemonized: it started a new session (setsid) and its parent \(e.pid) exited",
                               subject: "daemonize", pid: c, perProcess: true)
            }
            return nil
        default:
            return nil
        }
    }
}
