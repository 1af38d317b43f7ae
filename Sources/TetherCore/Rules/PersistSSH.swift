/// SSH: authorized_keys of any user, per-user rc/environment, the sshd configuration, and
/// the client's (ProxyCommand, LocalCommand and `Match exec` run commands at every ssh).
struct PersistSSH: Rule, LocationGated {
    static let gate: [Place] = [.ssh]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.ssh", severity: .critical, action: .kill, mitre: "T1098.004",
                                    kinds: EventKind.modifying,
                                    title: "SSH authorized_keys of any user, ~/.ssh/rc, sshd and ssh client config")

    static let locations = Locations(.ssh, system: [
        "/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/", "/etc/ssh/sshrc", "/etc/ssh/authorized_keys/",
        "/etc/ssh/trusted-user-ca-keys.pem", "/etc/ssh/ca.pub", "/etc/ssh/ssh_config", "/etc/ssh/ssh_config.d/",
    ], home: [
        ".ssh/authorized_keys", ".ssh/authorized_keys2", ".ssh/rc", ".ssh/environment", ".ssh/config",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = PersistSSH.locations.modified(e, ctx) else { return nil }
        let what = path.contains("authorized_keys") ? "SSH authorized keys"
            : path.hasSuffix("/.ssh/config") || path.contains("/ssh_config") ? "SSH client configuration (runs ProxyCommand, LocalCommand)" : "SSH login configuration"
        return RuleHit(Describe.file(what, path, op, e), subject: path, path: path)
    }
}
