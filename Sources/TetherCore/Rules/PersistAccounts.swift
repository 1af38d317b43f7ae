/// Accounts: the passwd/shadow/group databases and the tools that edit them.
struct PersistAccounts: Rule, LocationGated, ExecGated {
    static let execNames: [String] = PersistAccounts.tools.map(String.init)
    static let gate: [Place] = [.accounts]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.accounts", severity: .critical, action: .kill, mitre: "T1136.001",
                                    kinds: EventKind.modifying + [.exec],
                                    title: "account databases (passwd, shadow, group) and useradd and friends")

    static let locations = Locations(.accounts, system: [
        "/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/subuid", "/etc/subgid",
        "/etc/passwd+", "/etc/shadow+", "/etc/group+", "/etc/gshadow+", "/etc/nsswitch.conf", "/var/lib/extrausers/",
    ])
    static let tools: Set<Substring> = [
        "useradd", "adduser", "usermod", "userdel", "deluser", "groupadd", "addgroup", "groupmod", "groupdel",
        "delgroup", "gpasswd", "chpasswd", "chgpasswd", "passwd", "newusers", "vipw", "vigr", "chsh", "chfn", "chage",
    ]

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .exec {
            guard let name = e.execName, PersistAccounts.tools.contains(name) else { return nil }
            // Read-only uses: `passwd -S` (status), `chage -l` (list).
            if Exec.hasFlag(e, ["-S", "--status", "-l", "--list"]) { return nil }
            return RuleHit("accounts: \(Describe.command(e))\(e.outcomeNote)", subject: "exec:\(name)", perProcess: true)
        }
        guard let (path, op) = PersistAccounts.locations.modified(e, ctx) else { return nil }
        return RuleHit(Describe.file("account database", path, op, e), subject: path, path: path)
    }
}

/// sudoers, doas and polkit rules: who may become root.
struct PersistSudoers: Rule, LocationGated, ExecGated {
    static let execNames: [String] = ["visudo"]
    static let gate: [Place] = [.sudoers]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.sudoers", severity: .critical, action: .kill, mitre: "T1548.003",
                                    kinds: EventKind.modifying + [.exec],
                                    title: "sudoers, doas.conf and polkit rules; visudo")

    static let locations = Locations(.sudoers, system: [
        "/etc/sudoers", "/etc/sudoers.d/", "/etc/doas.conf", "/etc/polkit-1/rules.d/", "/etc/polkit-1/localauthority/",
        "/usr/share/polkit-1/rules.d/", "/etc/sudo.conf",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .exec {
            guard e.execName == "visudo", !Exec.hasFlag(e, ["-c", "--check"]) else { return nil }
            return RuleHit("sudoers: \(Describe.command(e))\(e.outcomeNote)", subject: "exec:visudo", perProcess: true)
        }
        guard let (path, op) = PersistSudoers.locations.modified(e, ctx) else { return nil }
        return RuleHit(Describe.file("privilege rules", path, op, e), subject: path, path: path)
    }
}
