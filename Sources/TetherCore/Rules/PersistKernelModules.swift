/// Kernel modules on disk and their load configuration (loaded again at every boot).
/// Loading one now is `escape.kernel_module`.
struct PersistKernelModules: Rule, LocationGated, ExecGated {
    static let execNames: [String] = ["insmod", "modprobe"]
    static let gate: [Place] = [.kernelModules]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.kernel_modules", severity: .critical, action: .kill, mitre: "T1547.006",
                                    kinds: EventKind.modifying + [.exec],
                                    title: "kernel modules and their load config (modules-load.d, modprobe.d), insmod/modprobe")

    static let locations = Locations(.kernelModules, system: [
        "/etc/modules", "/etc/modules-load.d/", "/usr/lib/modules-load.d/", "/lib/modules-load.d/", "/run/modules-load.d/",
        "/etc/modprobe.d/", "/lib/modprobe.d/", "/usr/lib/modprobe.d/", "/run/modprobe.d/", "/etc/modprobe.conf",
        "/lib/modules/", "/usr/lib/modules/", "/etc/initramfs-tools/modules", "/etc/dracut.conf.d/",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .exec {
            switch e.execName {
            case "insmod": break
            case "modprobe":
                // Dry runs and queries load nothing.
                if Exec.hasFlag(e, ["-n", "--dry-run", "-c", "--showconfig", "--show-depends", "-r", "--remove", "-R", "--resolve-alias", "-D"]) { return nil }
            default: return nil
            }
            return RuleHit("kernel module: \(Describe.command(e))\(e.outcomeNote)", subject: "exec:\(e.execName!)", perProcess: true)
        }
        guard let (path, op) = PersistKernelModules.locations.modified(e, ctx) else { return nil }
        let what = path.hasSuffix(".ko") || path.hasSuffix(".ko.xz") || path.hasSuffix(".ko.zst") ? "kernel module file" : "kernel module load config"
        return RuleHit(Describe.file(what, path, op, e), subject: path, path: path)
    }
}
