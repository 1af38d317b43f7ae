/// Download then execute: a file the session wrote outside its workspace, run later.
/// Fires when the writer also talked to the network beyond loopback (it fetched the file:
/// curl -o, wget, a script's urlopen), or when the file was written outside every
/// writable root and made executable by chmod. Build outputs in /tmp (go run) and test
/// scripts in temp dirs stay quiet: nobody fetched them.
struct EvasionDownloadExec: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "evasion.download_exec", severity: .high, action: .kill, mitre: "T1105",
                                    kinds: [.exec],
                                    title: "download then execute (fetched or planted outside the workspace, made executable, run)")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        let s = ctx.session
        guard !s.staged.isEmpty else { return nil }
        if let p = e.path, let f = s.staged[p] {
            let fetched = s.egress.contains(f.writer)
            let planted = f.chmod != nil && !ctx.mayWrite(p)
            guard fetched || planted else { return nil }
            let how = fetched ? "downloaded by pid \(f.writer)" : "written outside the boundary and made executable"
            return RuleHit("download-then-execute: \(p) \(how), then run\(e.outcomeNote)", subject: p, path: p,
                           related: [f.event(path: p, session: s.id)] + (f.chmod.map { [$0] } ?? []))
        }
        // An interpreter running a fetched script: `curl -o /tmp/x.sh URL; sh /tmp/x.sh`.
        if let script = Exec.scriptPath(e, name: ctx.execName), let f = s.staged[script], s.egress.contains(f.writer) {
            return RuleHit("download-then-execute: \(script) downloaded by pid \(f.writer), then run by \(e.execName ?? "an interpreter")\(e.outcomeNote)",
                           subject: script, path: script, related: [f.event(path: script, session: s.id)] + (f.chmod.map { [$0] } ?? []))
        }
        return nil
    }
}
