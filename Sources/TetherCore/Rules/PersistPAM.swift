/// PAM: configuration and modules of every login and sudo.
struct PersistPAM: Rule, LocationGated {
    static let gate: [Place] = [.pam]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.pam", severity: .critical, action: .kill, mitre: "T1556.003",
                                    kinds: EventKind.modifying,
                                    title: "PAM configuration and modules")

    static let locations = Locations(.pam, system: [
        "/etc/pam.d/", "/etc/pam.conf", "/etc/security/", "/lib/security/", "/lib64/security/", "/usr/lib/security/",
        "/usr/lib64/security/", "/lib/x86_64-linux-gnu/security/", "/usr/lib/x86_64-linux-gnu/security/",
        "/lib/aarch64-linux-gnu/security/", "/usr/lib/aarch64-linux-gnu/security/",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = PersistPAM.locations.modified(e, ctx) else { return nil }
        let what = path.hasSuffix(".so") ? "PAM module" : "PAM configuration"
        return RuleHit(Describe.file(what, path, op, e), subject: path, path: path)
    }
}
