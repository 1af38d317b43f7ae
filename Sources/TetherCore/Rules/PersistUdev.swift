/// udev rules: RUN+= commands on device events, as root.
struct PersistUdev: Rule, LocationGated {
    static let gate: [Place] = [.udev]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.udev", severity: .high, action: .kill, mitre: "T1546.017",
                                    kinds: EventKind.modifying,
                                    title: "udev rules")

    static let locations = Locations(.udev, system: [
        "/etc/udev/rules.d/", "/lib/udev/rules.d/", "/usr/lib/udev/rules.d/", "/run/udev/rules.d/",
        "/usr/local/lib/udev/rules.d/", "/etc/udev/udev.conf",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = PersistUdev.locations.modified(e, ctx) else { return nil }
        return RuleHit(Describe.file("udev rule", path, op, e), subject: path, path: path)
    }
}
