/// A hard link that gives a protected file a second name: a credential (password hashes,
/// an SSH private key, a cloud or registry token, ...) or a persistence location (a cron
/// job, a unit, a shell startup file, ...) linked to a name elsewhere, typically in the
/// workspace. Read or written under the new name, the file is the same inode, but every
/// path a rule knows is gone from the events: opens report the name they went through.
/// The link itself is the tell, judged on the existing name the kernel resolved the
/// source as. (A refused attempt, EPERM under fs.protected_hardlinks, counts too.)
struct EscapeHardLink: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.hard_link", severity: .high, action: .stop, mitre: "T1036",
                                    kinds: [.link],
                                    title: "a hard link giving a credential or a persistence location a second name")

    /// Every location whose file must not get a second name.
    static let protected: [(what: String, locations: Locations)] =
        EscapeCredentials.secrets.map { ($0.what, $0.locations) }
        + KernelGuardLocations.table.map { ("a \($0.0.id) location", $0.1) }

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let source = e.path, let target = e.newPath else { return nil }
        if !e.succeeded, e.failedNotFound { return nil }
        if ctx.inWorkspace(source) { return nil } // the workspace's own files (git, cp -al)
        var what: String?
        if let (_, rel) = Homes.relative(source, homes: ctx.homes), rel.hasPrefix(".ssh/id_"), !rel.hasSuffix(".pub") {
            what = "SSH private key"
        }
        for p in EscapeHardLink.protected where what == nil && p.locations.contains(source, homes: ctx.homes) { what = p.what }
        guard let what else { return nil }
        return RuleHit("hard link: \(source) (\(what)) given a second name, \(target)\(e.outcomeNote)", subject: source, path: source)
    }
}
