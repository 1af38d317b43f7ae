/// /etc/ld.so.preload and the dynamic linker's configuration: code in every process.
struct PersistDynamicLinker: Rule, LocationGated {
    static let gate: [Place] = [.dynamicLinker]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.ld_preload", severity: .critical, action: .kill, mitre: "T1574.006",
                                    kinds: EventKind.modifying,
                                    title: "/etc/ld.so.preload and ld.so configuration")

    static let locations = Locations(.dynamicLinker, system: ["/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d/"])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = PersistDynamicLinker.locations.modified(e, ctx) else { return nil }
        let what = path == "/etc/ld.so.preload" ? "library preloaded into every process" : "dynamic linker configuration"
        return RuleHit(Describe.file(what, path, op, e), subject: path, path: path)
    }
}
