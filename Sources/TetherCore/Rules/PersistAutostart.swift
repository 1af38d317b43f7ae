/// XDG autostart entries: run at every graphical login.
struct PersistAutostart: Rule, LocationGated {
    static let gate: [Place] = [.autostart]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.xdg_autostart", severity: .high, action: .kill, mitre: "T1547.013",
                                    kinds: EventKind.modifying,
                                    title: "XDG autostart entries (~/.config/autostart, /etc/xdg/autostart)")

    static let locations = Locations(.autostart, system: ["/etc/xdg/autostart/", "/usr/share/autostart/", "/usr/share/gnome/autostart/"],
                                     home: [".config/autostart/", ".kde/Autostart/", ".config/plasma-workspace/env/"])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = PersistAutostart.locations.modified(e, ctx) else { return nil }
        return RuleHit(Describe.file("autostart entry", path, op, e), subject: path, path: path)
    }
}
