/// Becoming root: setuid/setgid to 0 from a non-root session, sudo/su/pkexec/doas, exec of
/// a setuid-root program, setting setuid bits, granting file capabilities.
struct EscapePrivilege: Rule, ExecGated {
    /// (Execs that change credentials reach every rule regardless: the setuid-root check below.)
    static let execNames: [String] = EscapePrivilege.elevators.map(String.init) + ["setcap"]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.privilege", severity: .high, action: .kill, mitre: "T1548",
                                    kinds: [.setuid, .setgid, .exec, .chmod, .open, .setxattr], opens: .writes,
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
        case .setxattr:
            // setcap's own call, or anyone's (python, a copy of setcap): the syscall is the act
            guard e.name == "security.capability", (e.bytes ?? 0) > 0, let p = e.path else { return nil }
            let caps = Capabilities.names(e.capPermitted ?? 0)
            return RuleHit("file capabilities set on \(p)\(caps.isEmpty ? "" : " (" + caps.joined(separator: ", ") + ")"): whoever runs it gets them\(e.outcomeNote)",
                           subject: p, path: p)
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

/// Linux capability numbers, for messages.
enum Capabilities {
    static let table = ["cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid", "cap_kill", "cap_setgid",
                        "cap_setuid", "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service", "cap_net_broadcast", "cap_net_admin",
                        "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner", "cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace",
                        "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice", "cap_sys_resource", "cap_sys_time",
                        "cap_sys_tty_config", "cap_mknod", "cap_lease", "cap_audit_write", "cap_audit_control", "cap_setfcap",
                        "cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm", "cap_block_suspend", "cap_audit_read",
                        "cap_perfmon", "cap_bpf", "cap_checkpoint_restore"]

    /// The names of the capabilities set in `mask` ("cap_42" for one newer than the table).
    static func names(_ mask: UInt64) -> [String] {
        (0..<64).filter { mask & (UInt64(1) << UInt64($0)) != 0 }.map { $0 < table.count ? table[$0] : "cap_\($0)" }
    }
}
