/// systemd units, drop-ins, timers and generators, system and user; `systemctl
/// enable/link/...`, `systemd-run`, and lingering (user services that outlive logins).
struct PersistSystemd: Rule, LocationGated, ExecGated {
    static let execNames: [String] = ["systemctl", "systemd-run", "loginctl"]
    static let gate: [Place] = [.systemd]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.systemd", severity: .high, action: .kill, mitre: "T1543.002",
                                    kinds: EventKind.modifying + [.exec],
                                    title: "systemd units, drop-ins and timers (system and user), systemctl enable, systemd-run")

    static let unitDirs = Locations(.systemd, system: [
        "/etc/systemd/system/", "/etc/systemd/user/", "/run/systemd/system/", "/run/systemd/user/",
        "/lib/systemd/system/", "/lib/systemd/user/", "/usr/lib/systemd/system/", "/usr/lib/systemd/user/",
        "/usr/local/lib/systemd/system/", "/usr/local/lib/systemd/user/",
        "/etc/systemd/system-generators/", "/etc/systemd/user-generators/", "/usr/lib/systemd/system-generators/",
        "/usr/lib/systemd/user-generators/", "/lib/systemd/system-generators/", "/usr/local/lib/systemd/system-generators/",
        "/etc/systemd/system.conf", "/etc/systemd/system.conf.d/", "/etc/systemd/user.conf", "/etc/systemd/user.conf.d/",
        "/var/lib/systemd/linger/",
    ], home: [
        ".config/systemd/user/", ".local/share/systemd/user/", ".config/systemd/user.conf",
    ])

    /// systemctl verbs that make a unit start later on its own.
    static let enablingVerbs: Set<String> = ["enable", "reenable", "link", "preset", "preset-all", "add-wants", "add-requires", "edit", "set-default", "revert"]

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .exec {
            switch e.execName {
            case "systemctl":
                guard let verb = Exec.verb(e, PersistSystemd.enablingVerbs) else { return nil }
                return RuleHit("systemd: systemctl \(verb): \(Describe.command(e))\(e.outcomeNote)", subject: "exec:systemctl \(verb)", perProcess: true)
            case "systemd-run":
                return RuleHit("systemd: transient unit started outside the session with \(Describe.command(e))\(e.outcomeNote)",
                               subject: "exec:systemd-run", perProcess: true)
            case "loginctl":
                guard Exec.verb(e, ["enable-linger"]) != nil else { return nil }
                return RuleHit("systemd: lingering enabled (user services run without a login): \(Describe.command(e))\(e.outcomeNote)",
                               subject: "exec:loginctl enable-linger", perProcess: true)
            default:
                return nil
            }
        }
        guard let (path, op) = PersistSystemd.unitDirs.modified(e, ctx) else { return nil }
        // A unit symlinked to /dev/null is masked: that stops a service (escape.tamper_services), it does not persist.
        if op == .symlink, e.linkTarget == "/dev/null" { return nil }
        let what = path.hasSuffix(".timer") ? "systemd timer" : path.contains(".d/") ? "systemd drop-in" : "systemd unit"
        return RuleHit(Describe.file(what, path, op, e), subject: path, path: path)
    }
}
