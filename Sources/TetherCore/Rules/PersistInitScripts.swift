/// SysV init scripts, runlevel links, rc.local and upstart jobs, and the scripts root runs
/// on network events (NetworkManager's dispatcher, ifupdown, dhclient, ppp hooks).
struct PersistInitScripts: Rule, LocationGated, ExecGated {
    static let execNames: [String] = ["update-rc.d", "chkconfig", "rc-update"]
    static let gate: [Place] = [.initScripts]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.init_scripts", severity: .high, action: .kill, mitre: "T1037.004",
                                    kinds: EventKind.modifying + [.exec],
                                    title: "SysV init scripts, /etc/rc*.d, rc.local, network event hooks, update-rc.d/chkconfig")

    static let locations = Locations(.initScripts, system: [
        "/etc/init.d/", "/etc/rc.local", "/etc/rc.d/", "/etc/rcS.d/", "/etc/rc0.d/", "/etc/rc1.d/", "/etc/rc2.d/",
        "/etc/rc3.d/", "/etc/rc4.d/", "/etc/rc5.d/", "/etc/rc6.d/", "/etc/init/", "/etc/rc.common", "/etc/local.d/",
        "/etc/NetworkManager/dispatcher.d/", "/etc/network/if-up.d/", "/etc/network/if-down.d/", "/etc/network/if-pre-up.d/",
        "/etc/network/if-post-down.d/", "/etc/networkd-dispatcher/", "/etc/dhcp/dhclient-enter-hooks.d/",
        "/etc/dhcp/dhclient-exit-hooks.d/", "/etc/ppp/ip-up.d/", "/etc/ppp/ip-down.d/",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .exec {
            switch e.execName {
            case "update-rc.d":
                guard Exec.verb(e, ["defaults", "enable", "start", "defaults-disabled"]) != nil else { return nil }
            case "chkconfig":
                guard Exec.args(e).contains(where: { $0 == "on" || $0 == "--add" }) else { return nil }
            case "rc-update":
                guard Exec.verb(e, ["add"]) != nil else { return nil }
            default:
                return nil
            }
            return RuleHit("init script enabled: \(Describe.command(e))\(e.outcomeNote)", subject: "exec:\(e.execName!)", perProcess: true)
        }
        guard let (path, op) = PersistInitScripts.locations.modified(e, ctx) else { return nil }
        let what = path.hasPrefix("/etc/init") || path.hasPrefix("/etc/rc") || path.hasPrefix("/etc/local.d") ? "init script" : "network event hook (runs as root)"
        return RuleHit(Describe.file(what, path, op, e), subject: path, path: path)
    }
}
