/// Scripts other programs run for us: login message (motd) scripts.
struct PersistMotd: Rule, LocationGated {
    static let gate: [Place] = [.motd]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.motd", severity: .high, action: .kill, mitre: "T1037",
                                    kinds: EventKind.modifying,
                                    title: "motd scripts (run as root at every login)")

    static let locations = Locations(.motd, system: ["/etc/update-motd.d/", "/usr/lib/update-notifier/"])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = PersistMotd.locations.modified(e, ctx) else { return nil }
        return RuleHit(Describe.file("motd script", path, op, e), subject: path, path: path)
    }
}

/// Package-manager hooks: commands apt, dpkg, yum/dnf or pacman run as root on the next install.
struct PersistPackageHooks: Rule, LocationGated {
    static let gate: [Place] = [.packageHooks]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.package_hooks", severity: .high, action: .kill, mitre: "T1546.016",
                                    kinds: EventKind.modifying,
                                    title: "package-manager hooks (apt, dpkg, yum/dnf, pacman)")

    static let locations = Locations(.packageHooks, system: [
        "/etc/apt/apt.conf", "/etc/apt/apt.conf.d/", "/etc/dpkg/dpkg.cfg", "/etc/dpkg/dpkg.cfg.d/",
        "/etc/yum/pluginconf.d/", "/usr/lib/yum-plugins/", "/etc/dnf/plugins/", "/etc/pacman.d/hooks/",
        "/usr/share/libalpm/hooks/", "/etc/pacman.conf", "/etc/zypp/commit.d/",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = PersistPackageHooks.locations.modified(e, ctx) else { return nil }
        return RuleHit(Describe.file("package-manager hook", path, op, e), subject: path, path: path)
    }
}
