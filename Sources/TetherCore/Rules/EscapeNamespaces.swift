/// Namespaces: unshare, setns (nsenter), new user/mount/pid/net namespaces.
struct EscapeNamespace: Rule, ExecGated {
    static let execNames: [String] = ["nsenter"]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.namespace", severity: .high, action: .stop, mitre: "T1611",
                                    kinds: [.unshare, .setns, .exec],
                                    title: "namespace changes (unshare, setns, nsenter)")

    static let namespaceMask: UInt64 = NamespaceFlags.table.reduce(0) { $0 | $1.0 }

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        switch e.kind {
        case .unshare:
            let f = e.flags ?? 0
            guard f & EscapeNamespace.namespaceMask != 0 else { return nil } // CLONE_FILES/FS only: no namespace
            let names = NamespaceFlags.names(f).joined(separator: ",")
            return RuleHit("new namespaces: unshare(\(names))\(e.outcomeNote)", subject: "unshare:\(names)", perProcess: true)
        case .setns:
            let names = NamespaceFlags.names(e.flags ?? 0)
            let what = names.isEmpty ? "a namespace" : names.joined(separator: ",") + " namespace"
            return RuleHit("entered \(what) of another process (setns)\(e.outcomeNote)", subject: "setns", perProcess: true)
        case .exec:
            guard e.execName == "nsenter" else { return nil }
            return RuleHit("nsenter: \(Describe.command(e))\(e.outcomeNote)", subject: "exec:nsenter", perProcess: true)
        default:
            return nil
        }
    }
}

/// Mounts, unmounts, pivot_root and chroot: reshaping the file system view.
struct EscapeMount: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.mount", severity: .high, action: .stop, mitre: "T1611",
                                    kinds: [.mount, .umount, .pivotRoot, .chroot, .mountAPI],
                                    title: "mount, umount, pivot_root, chroot, the new mount API")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        let what: String
        switch e.kind {
        case .mount:
            let src = e.source.map { "\($0) " } ?? ""
            let fs = e.fstype.map { " (\($0))" } ?? ""
            what = "mount \(src)on \(e.path ?? "?")\(fs)"
        case .umount: what = "umount \(e.path ?? "?")"
        case .pivotRoot: what = "pivot_root to \(e.path ?? "?")"
        case .chroot: what = "chroot to \(e.path ?? "?")"
        case .mountAPI: what = "mount API \(e.op ?? "call")\(e.path.map { " on \($0)" } ?? "")"
        default: return nil
        }
        return RuleHit("\(what)\(e.outcomeNote)", subject: "\(e.kind.rawValue):\(e.path ?? "")", path: e.path, perProcess: true)
    }
}
