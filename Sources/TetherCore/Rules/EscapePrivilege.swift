/// Becoming root: setuid/setgid to 0 from a non-root session, sudo/su/pkexec/doas, exec of
/// a setuid-root program, setting setuid bits, granting file capabilities.
struct EscapePrivilege: Rule, ExecGated {
    /// (Execs that change credentials reach every rule regardless: the setuid-root check below.)
    static let execNames: [String] = EscapePrivilege.elevators.map(String.init) + ["setcap"]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.privilege", severity: .high, action: .kill, mitre: "T1548",
                                    kinds: [.setuid, .setgid, .exec, .chmod, .open], opens: .writes,
                                    title: "privilege: setuid/setgid to root, sudo/su/pkexec/doas, setuid bits, file capabilities")

    static let elevators: Set<Substring> = ["sudo", "su", "pkexec", "doas", "run0", "sudoedit", "ksu", "calife", "super"]
    /// setuid-root helpers that hand out nothing (mounting FUSE, ping, chrome's sandbox).
    static let benignSetuid: Set<Substring> = ["fusermount", "fusermount3", "mount", "umount", "ping", "ping6", "chrome-sandbox",
                                               "ssh-keysign", "unix_chkpwd", "dbus-daemon-launch-helper", "polkit-agent-helper-1",
                                               "Xorg.wrap", "ntfs-3g", "newuidmap", "newgidmap"]
    static let setuidBit: UInt32 = 0o4000

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        let rootSession = ctx.uid == 0
        switch e.kind {
        case .setuid, .setgid:
            guard !rootSession, let ids = e.ids, ids.contains(0) else { return nil }
            let call = e.idCall ?? e.kind.rawValue
            let list = ids.map(String.init).joined(separator: ",")
            return RuleHit("\(call)(\(list)) to root from a non-root session\(e.outcomeNote)", subject: "root", perProcess: true)
        case .exec:
            guard let n = ctx.execName else { return nil }
            let name = Substring(n)
            if EscapePrivilege.elevators.contains(name) {
                return RuleHit("privilege elevation tool: \(Describe.command(e))\(e.outcomeNote)", subject: "root", perProcess: true)
            }
            if name == "setcap", !Exec.hasFlag(e, ["-v"]) {
                return RuleHit("file capabilities granted: \(Describe.command(e))\(e.outcomeNote)", subject: "setcap", perProcess: true)
            }
            if e.succeeded, !rootSession, e.euid == 0, e.uid != 0, !EscapePrivilege.benignSetuid.contains(name) {
                return RuleHit("setuid-root program run: \(e.path ?? String(name))", subject: "root", perProcess: true)
            }
            return nil
        case .chmod:
            guard let m = e.mode, m & EscapePrivilege.setuidBit != 0, let p = e.path else { return nil }
            return RuleHit("setuid bit set: chmod \(String(m, radix: 8)) \(p)\(e.outcomeNote)", subject: p, path: p)
        case .open:
            guard let f = e.flags, f & OpenFlags.create != 0, let m = e.mode, m & EscapePrivilege.setuidBit != 0, let p = e.openedPath else { return nil }
            return RuleHit("file created with the setuid bit: \(p) mode \(String(m, radix: 8))\(e.outcomeNote)", subject: p, path: p)
        default:
            return nil
        }
    }
}
