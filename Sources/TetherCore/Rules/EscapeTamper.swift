/// Tampering with Tether and the host's defenses.

/// Signals (by any route) or ptrace aimed at Tether or at system daemons; reaching into
/// Tether's memory or descriptors; changes to Tether's configuration, state, binaries,
/// unit or pinned BPF objects (/sys/fs/bpf).
struct EscapeTamper: Rule, LocationGated {
    static let gate: [Place] = [.tether]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.tamper", severity: .critical, action: .kill, mitre: "T1562.001",
                                    kinds: EventKind.modifying + [.kill, .ptrace, .restricted],
                                    title: "signals/ptrace at Tether or system daemons; Tether's memory or fds; writes to Tether's config, state, binaries, /sys/fs/bpf")

    /// System daemons by executable name: signalling them disables logging, auditing, access.
    static let daemons: Set<Substring> = ["systemd", "init", "systemd-journald", "systemd-logind", "systemd-udevd", "systemd-resolved",
                                          "systemd-networkd", "rsyslogd", "syslog-ng", "auditd", "sshd", "cron", "crond", "atd",
                                          "dbus-daemon", "dbus-broker", "polkitd", "containerd", "dockerd", "falco", "osqueryd",
                                          "tetherd", "NetworkManager", "chronyd", "ntpd", "snapd", "fail2ban-server", "apparmor_parser"]

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        switch e.kind {
        case .kill:
            guard let t = e.target, (e.signal ?? 0) != 0 else { return nil } // signal 0 only asks "are you there?"
            let sig = e.signal.map { " (signal \($0))" } ?? ""
            if e.via == "setown" { // reported only when the owner is Tether
                return RuleHit("I/O signals of a file routed to Tether (\(t < 0 ? "process group \(-t)" : "pid \(t)"), F_SETOWN)\(e.outcomeNote)",
                               subject: "pid:\(t)")
            }
            // the kernel's tamper guard knew the target was Tether's (maybe an instance since
            // restarted), or that the process group it named holds Tether
            if ctx.protectedPids.contains(t) || e.guardActions.contains(.tamper) {
                let whom = t > 0 ? "Tether (pid \(t))" : "a process group holding Tether (\(t == 0 ? "the caller's own" : "\(-t)"))"
                return RuleHit("signal to \(whom)\(sig)\(viaNote(e))\(e.outcomeNote)", subject: "pid:\(t)")
            }
            if t == -1 { return RuleHit("signal to every process (kill -1)\(sig)\(e.outcomeNote)", subject: "pid:-1") }
            if t == 1 { return RuleHit("signal to init (pid 1)\(sig)\(e.outcomeNote)", subject: "pid:1") }
            // who it reached, as the kernel had it when the signal went (a killed daemon is
            // gone before anyone could look it up)
            guard t > 1, !ctx.isMember(t), let p = e.targetProcess ?? ctx.externalProcess(t) else { return nil }
            let name = PathBytes.basename(p.exe)
            guard EscapeTamper.daemons.contains(name) || (p.uid == 0 && ctx.uid != 0) else { return nil }
            let what = e.reached?.comm == true ? "command \(p.exe)" : p.exe
            return RuleHit("signal to system daemon \(what) (pid \(t))\(sig)\(e.outcomeNote)", subject: "pid:\(t)")
        case .ptrace:
            guard let t = e.target, ctx.protectedPids.contains(t) || e.guardActions.contains(.tamper) else { return nil }
            return RuleHit("ptrace of Tether (pid \(t))\(e.outcomeNote)", subject: "pid:\(t)")
        case .restricted:
            // another process's memory or descriptors, a pidfd: aimed at Tether's?
            guard let t = e.target, ctx.protectedPids.contains(t) || e.guardActions.contains(.tamper) else { return nil }
            let call = SyscallName.of(e.syscall) ?? "syscall \(e.syscall)"
            return RuleHit("\(call) on Tether (pid \(t)): its memory or descriptors (the tracked set, the guard switches)\(e.outcomeNote)",
                           subject: "pid:\(t):\(call)")
        case .open where e.ioUringOp != nil && e.path.flatMap(PathBytes.procPid).map { ctx.protectedPids.contains($0.pid) } == true:
            // A ring's open never reaches the tamper guard's check of the opened file's proc
            // inode (no syscall exit hands it over): its path, the kernel's copy read
            // lexically, names Tether's /proc entry. Judged after the request ran.
            let p = e.path ?? ""
            return RuleHit("Tether's process opened through /proc by an io_uring request: \(p)\(e.outcomeNote)", subject: p, path: p)
        case .open where !e.isWriteOpen:
            // a read the kernel's tamper guard matched (the engine hands those to the rules
            // of writes): Tether's /proc/PID/mem, matched on the proc inode's pid
            guard e.guardActions.contains(.tamper), let p = e.path else { return nil }
            return RuleHit("Tether's process opened through /proc: \(p)\(e.outcomeNote)", subject: p, path: p)
        default:
            guard let (path, op) = ctx.modified else { return nil }
            if e.isWriteOpen, CgroupControl.holds(path) {
                return RuleHit("cgroup control file opened for writing: \(path) (moving processes, freezing or killing a cgroup: how Tether is frozen or killed without a signal)\(e.outcomeNote)",
                               subject: path, path: path)
            }
            if e.guardActions.contains(.tamper), let (pid, _) = PathBytes.procPid(path) {
                return RuleHit("Tether's process (pid \(pid)) opened for writing through /proc: \(path)\(e.outcomeNote)", subject: path, path: path)
            }
            if ctx.pathMask & Place.tether.mask != 0 || e.guardActions.contains(.tamper) { return RuleHit(Describe.file("Tether's own files", path, op, e), subject: path, path: path) }
            if let from = e.renameSource, ctx.tether.owns(from) {
                return RuleHit("Tether's own files: \(from) renamed away\(e.outcomeNote)", subject: from, path: from)
            }
            return nil
        }
    }
}

/// The cgroup files that move processes or freeze or kill a cgroup (v1 and v2).
enum CgroupControl {
    static let names: Set<Substring> = ["cgroup.procs", "cgroup.threads", "tasks", "cgroup.freeze", "cgroup.kill", "freezer.state"]
    static let root = Array("/sys/fs/cgroup/".utf8)
    static func holds(_ path: String) -> Bool { PathBytes.hasPrefix(path, root) && names.contains(PathBytes.basename(path)) }
}

extension EscapeTamper {
    /// " by rt_sigqueueinfo": the route when it is not plain kill(2).
    func viaNote(_ e: Event) -> String {
        guard let v = e.via, v != "kill", !v.isEmpty else { return "" }
        return " by \(v)"
    }
}

/// Stopping, masking or disabling services; shutting the host down.
struct EscapeTamperServices: Rule, LocationGated, ExecGated {
    static let execNames: [String] = ["systemctl", "service", "rc-service", "update-rc.d", "chkconfig", "sv", "rc-update", "init"] + EscapeTamperServices.powerTools.map(String.init)
    static let gate: [Place] = [.systemd]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.tamper_services", severity: .high, action: .stop, mitre: "T1489",
                                    kinds: [.exec, .symlink],
                                    title: "stopping, masking or disabling services; shutdown")

    static let systemctlVerbs: Set<String> = ["stop", "mask", "disable", "kill", "isolate", "halt", "poweroff", "reboot",
                                              "kexec", "rescue", "emergency", "suspend", "hibernate", "freeze"]
    static let powerTools: Set<Substring> = ["shutdown", "reboot", "halt", "poweroff", "telinit"]

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .symlink {
            guard e.linkTarget == "/dev/null", let p = e.path, PersistSystemd.unitDirs.holdsEventPath(ctx) else { return nil }
            return RuleHit("service masked by hand: \(p) -> /dev/null\(e.outcomeNote)", subject: p, path: p)
        }
        guard let name = e.execName else { return nil }
        let args = Exec.args(e)
        switch name {
        case "systemctl":
            guard let verb = Exec.verb(e, EscapeTamperServices.systemctlVerbs) else { return nil }
            return hit("systemctl \(verb)", e)
        case "service", "rc-service":
            guard args.contains(where: { $0 == "stop" || $0 == "disable" }) else { return nil }
            return hit(String(name), e)
        case "update-rc.d":
            guard args.contains(where: { $0 == "disable" || $0 == "remove" }) else { return nil }
            return hit("update-rc.d", e)
        case "chkconfig":
            guard args.contains("off") || args.contains("--del") else { return nil }
            return hit("chkconfig", e)
        case "sv":
            guard args.first == "down" || args.first == "stop" || args.first == "kill" else { return nil }
            return hit("sv", e)
        case "rc-update":
            guard args.first == "del" || args.first == "delete" else { return nil }
            return hit("rc-update", e)
        case "init":
            guard let a = args.first, ["0", "1", "6", "s", "S"].contains(a) else { return nil }
            return hit("init \(a)", e)
        default:
            guard EscapeTamperServices.powerTools.contains(name) else { return nil }
            if name == "shutdown", Exec.hasFlag(e, ["-c", "--show"]) { return nil }
            return hit(String(name), e)
        }
    }

    private func hit(_ what: String, _ e: Event) -> RuleHit {
        RuleHit("service control: \(Describe.command(e))\(e.outcomeNote)", subject: "exec:\(what)", perProcess: true)
    }
}

/// Truncating, deleting or rewriting system logs and login records.
struct EscapeTamperLogs: Rule, LocationGated, ExecGated {
    static let execNames: [String] = ["journalctl"]
    static let gate: [Place] = [.systemLogs]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.tamper_logs", severity: .high, action: .stop, mitre: "T1070.002",
                                    kinds: EventKind.modifying + [.exec],
                                    title: "truncating or deleting system logs and login records; journal vacuum")

    static let logs = Locations(.systemLogs, system: ["/var/log/", "/run/log/journal/", "/var/run/utmp", "/run/utmp"])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .exec {
            guard e.execName == "journalctl",
                  Exec.args(e).contains(where: { $0.hasPrefix("--vacuum") }) else { return nil }
            return RuleHit("system journal vacuumed: \(Describe.command(e))\(e.outcomeNote)", subject: "exec:journalctl", perProcess: true)
        }
        if let from = e.renameSource, EscapeTamperLogs.logs.contains(from, homes: nil) {
            return RuleHit("system log moved away: \(from) -> \(e.newPath ?? "?")\(e.outcomeNote)", subject: from, path: from)
        }
        guard let (path, op) = ctx.modified, EscapeTamperLogs.logs.holdsEventPath(ctx) else { return nil }
        if e.opensTruncating {
            return RuleHit("system log truncated: \(path)\(e.outcomeNote)", subject: path, path: path)
        }
        switch op {
        case .truncate, .delete:
            return RuleHit(Describe.file("system log", path, op, e), subject: path, path: path)
        case .write:
            // Appending is how logs grow; writing in place rewrites history (wtmp, lastlog, a log file).
            guard let f = e.flags, f & OpenFlags.append == 0 else { return nil }
            return RuleHit("system log opened for rewriting (not append): \(path)\(e.outcomeNote)", subject: path, path: path)
        case .symlink:
            return RuleHit(Describe.file("system log replaced by a symlink", path, op, e), subject: path, path: path)
        default:
            return nil
        }
    }
}

/// Clearing shell history: truncating, deleting or pointing it at /dev/null.
struct EscapeTamperHistory: Rule, LocationGated {
    static let gate: [Place] = [.shellHistory]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.tamper_history", severity: .medium, action: .alert, mitre: "T1070.003",
                                    kinds: EventKind.modifying,
                                    title: "clearing shell history")

    static let histories = Locations(.shellHistory, system: [], home: [
        ".bash_history", ".zsh_history", ".zhistory", ".sh_history", ".history", ".ksh_history",
        ".local/share/fish/fish_history", ".config/fish/fish_history",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if let from = e.renameSource, EscapeTamperHistory.histories.contains(from, homes: ctx.homes) {
            return RuleHit("shell history moved away: \(from)\(e.outcomeNote)", subject: from, path: from)
        }
        guard let (path, op) = ctx.modified, EscapeTamperHistory.histories.holdsEventPath(ctx) else { return nil }
        if e.opensTruncating {
            return RuleHit("shell history cleared: \(path) truncated\(e.outcomeNote)", subject: path, path: path)
        }
        switch op {
        case .truncate, .delete, .symlink, .link, .rename:
            let how = op == .symlink && e.linkTarget == "/dev/null" ? "pointed at /dev/null" : op.verb
            return RuleHit("shell history cleared: \(path) \(how)\(e.outcomeNote)", subject: path, path: path)
        default:
            return nil
        }
    }
}

/// Disabling address-space randomization: system-wide (sysctl) or for a program (setarch -R).
struct EscapeTamperASLR: Rule, ExecGated {
    static let execNames: [String] = EscapeTamperASLR.setarchNames.map(String.init)
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.tamper_aslr", severity: .high, action: .kill, mitre: "T1562.001",
                                    kinds: [.open, .exec, .sysctl], opens: .writes,
                                    title: "disabling ASLR (randomize_va_space, setarch -R)")

    static let sysctl = "/proc/sys/kernel/randomize_va_space"
    static let sysctlBytes = Array(sysctl.utf8)
    static let setarchNames: Set<Substring> = ["setarch", "linux32", "linux64", "i386", "x86_64", "uname26"]

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .exec {
            guard let n = e.execName, EscapeTamperASLR.setarchNames.contains(n), Exec.hasFlag(e, ["-R", "--addr-no-randomize"]) else { return nil }
            return RuleHit("ASLR disabled for a program: \(Describe.command(e))\(e.outcomeNote)", subject: "exec:setarch", perProcess: true)
        }
        guard e.isWriteOpen || e.kind == .sysctl, let p = e.path, PathBytes.equals(p, EscapeTamperASLR.sysctlBytes) else { return nil }
        return RuleHit("ASLR setting opened for writing: \(p)\(e.outcomeNote)", subject: p, path: p)
    }
}
