/// SSH: authorized_keys of any user, per-user rc/environment, and the sshd configuration.
struct PersistSSH: Rule, LocationGated {
    static let gate: [Place] = [.ssh]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.ssh", severity: .critical, action: .kill, mitre: "T1098.004",
                                    kinds: EventKind.modifying,
                                    title: "SSH authorized_keys of any user, ~/.ssh/rc, sshd config")

    static let locations = Locations(.ssh, system: [
        "/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/", "/etc/ssh/sshrc", "/etc/ssh/authorized_keys/",
        "/etc/ssh/trusted-user-ca-keys.pem", "/etc/ssh/ca.pub",
    ], home: [
        ".ssh/authorized_keys", ".ssh/authorized_keys2", ".ssh/rc", ".ssh/environment",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = PersistSSH.locations.modified(e, ctx) else { return nil }
        let what = path.contains("authorized_keys") ? "SSH authorized keys" : "SSH login configuration"
        return RuleHit(Describe.file(what, path, op, e), subject: path, path: path)
    }
}
