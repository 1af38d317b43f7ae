/// The catch-all boundary rule: a successful write, create, rename, delete, chmod or chown
/// outside the workspace and the writable roots. Failed attempts are left to the specific
/// rules: tools routinely try and fail to write where they may not (Python's
/// `__pycache__` in /usr/lib, lock probes), and a refused write changed nothing. A file
/// with no links left when the kernel saw it (a memfd, which browsers and shared-memory
/// code size with ftruncate; a temporary file already unlinked) is no place on the
/// filesystem: changing it changes nothing outside the session.
struct EscapeWrite: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.write", severity: .medium, action: .stop, mitre: "T1565.001",
                                    kinds: EventKind.modifying,
                                    title: "file changes outside the workspace and writable roots", fallback: true)

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard e.succeeded, !e.pathDeleted, let (path, op) = ctx.modified else { return nil }
        if let from = e.renameSource, !allowed(from, ctx) {
            return RuleHit("outside the boundary: \(from) renamed to \(path)", subject: from, path: from)
        }
        guard !ctx.modifiedMayWrite, !allowed(path, ctx) else { return nil }
        return RuleHit("outside the boundary: \(path) \(op.verb)", subject: path, path: path)
    }

    private func allowed(_ path: String, _ ctx: RuleContext) -> Bool {
        if ctx.mayWrite(path) { return true }
        // A member's own /proc entries (oom_score_adj, comm, attr): its own business.
        if let (pid, _) = PathBytes.procPid(path), ctx.isMember(pid) { return true }
        return false
    }
}
