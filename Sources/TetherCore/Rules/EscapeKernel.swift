/// Kernel reach: bpf(), module loading, kernel tunables, raw block and memory devices.

struct EscapeBPF: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.bpf", severity: .critical, action: .kill, mitre: "T1014",
                                    kinds: [.bpf],
                                    title: "bpf() calls (programs and maps reach into the kernel and into Tether)")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        let cmd = e.command.map { EscapeBPF.commandName($0) } ?? "?"
        return RuleHit("bpf(\(cmd))\(e.outcomeNote)", subject: "bpf:\(cmd)", perProcess: true)
    }

    static func commandName(_ c: Int64) -> String {
        let names = ["MAP_CREATE", "MAP_LOOKUP_ELEM", "MAP_UPDATE_ELEM", "MAP_DELETE_ELEM", "MAP_GET_NEXT_KEY", "PROG_LOAD",
                     "OBJ_PIN", "OBJ_GET", "PROG_ATTACH", "PROG_DETACH", "PROG_TEST_RUN", "PROG_GET_NEXT_ID",
                     "MAP_GET_NEXT_ID", "PROG_GET_FD_BY_ID", "MAP_GET_FD_BY_ID", "OBJ_GET_INFO_BY_FD", "PROG_QUERY",
                     "RAW_TRACEPOINT_OPEN", "BTF_LOAD", "BTF_GET_FD_BY_ID", "TASK_FD_QUERY", "MAP_LOOKUP_AND_DELETE_ELEM",
                     "MAP_FREEZE", "BTF_GET_NEXT_ID", "MAP_LOOKUP_BATCH", "MAP_LOOKUP_AND_DELETE_BATCH", "MAP_UPDATE_BATCH",
                     "MAP_DELETE_BATCH", "LINK_CREATE", "LINK_UPDATE", "LINK_GET_FD_BY_ID", "LINK_GET_NEXT_ID",
                     "ENABLE_STATS", "ITER_CREATE", "LINK_DETACH", "PROG_BIND_MAP", "TOKEN_CREATE"]
        return c >= 0 && c < names.count ? names[Int(c)] : "\(c)"
    }
}

struct EscapeKernelModule: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.kernel_module", severity: .critical, action: .kill, mitre: "T1547.006",
                                    kinds: [.module],
                                    title: "kernel module loading and unloading")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        let what = e.op ?? "module call"
        let name = e.name ?? e.path
        return RuleHit("kernel module: \(what)\(name.map { " \($0)" } ?? "")\(e.outcomeNote)",
                       subject: "module:\(name ?? "")", path: e.path, perProcess: true)
    }
}

/// Writes to /proc/sys (sysctl), /sys and /proc/sysrq-trigger change the running kernel.
/// (/sys/fs/bpf and ASLR have their own tamper rules.)
struct EscapeKernelTunables: Rule, LocationGated {
    static let gate: [Place] = [.kernelTunables]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.kernel_tunables", severity: .high, action: .stop, mitre: "T1562",
                                    kinds: EventKind.modifying + [.sysctl],
                                    title: "writes to /proc/sys, /sys and /proc/sysrq-trigger")

    static let locations = Locations(.kernelTunables, system: ["/proc/sys/", "/sys/", "/proc/sysrq-trigger", "/proc/sysvipc/"])
    static let excluded = Locations(.kernelTunablesExcluded, system: ["/sys/fs/bpf/", EscapeTamperASLR.sysctl])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .sysctl {
            // The cgroup sysctl hook's view of a /proc/sys write (it may have refused it).
            guard let p = e.path, p != EscapeTamperASLR.sysctl else { return nil }
            return RuleHit("kernel setting written: \(p)\(e.outcomeNote)", subject: p, path: p)
        }
        guard let (path, op) = ctx.modified, EscapeKernelTunables.locations.holdsEventPath(ctx),
              !EscapeKernelTunables.excluded.holdsEventPath(ctx),
              !(e.guardActions.contains(.tamper) && CgroupControl.holds(path)) else { return nil } // escape.tamper's
        return RuleHit(Describe.file("kernel setting", path, op, e), subject: path, path: path)
    }
}

/// Raw disks and memory bypass every file permission.
struct EscapeRawDevice: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.raw_device", severity: .critical, action: .kill, mitre: "T1006",
                                    kinds: [.open, .mknod, .device],
                                    title: "raw block and memory devices (/dev/sd*, /dev/nvme*, /dev/mem, /proc/kcore), device nodes")

    static let memory = Locations(.memoryDevices, system: ["/dev/mem", "/dev/kmem", "/dev/port", "/proc/kcore", "/dev/mapper/", "/dev/disk/", "/dev/block/"])
    /// Disk names go on with a drive letter ("sda") or a number ("nvme0n1", "loop3", "dm-0").
    static let letterDisks: [[UInt8]] = ["sd", "hd", "vd", "xvd"].map { Array($0.utf8) }
    static let numberDisks: [[UInt8]] = ["nvme", "mmcblk", "dm-", "md", "loop", "sr", "sg", "nbd", "zram", "rbd"].map { Array($0.utf8) }
    static let dev = Array("/dev/".utf8)
    static let S_IFMT: UInt32 = 0o170000, S_IFCHR: UInt32 = 0o020000, S_IFBLK: UInt32 = 0o060000

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .device {
            // The cgroup device hook saw (and may have refused) access to a raw disk or memory device.
            let dev = e.dev.map { d in "\(d >> 8 & 0xfff | d >> 32 & 0xffff_f000):\(d & 0xff | d >> 12 & 0xffff_ff00)" } ?? "?" // glibc makedev layout
            let how = e.op.map { $0.isEmpty ? "access" : $0 } ?? "access"
            return RuleHit("raw \(e.deviceType ?? "") device \(dev): \(how)\(e.outcomeNote)", subject: "dev:\(dev)", perProcess: true)
        }
        if e.kind == .mknod {
            let type = (e.mode ?? 0) & EscapeRawDevice.S_IFMT
            guard type == EscapeRawDevice.S_IFCHR || type == EscapeRawDevice.S_IFBLK, let p = e.path else { return nil }
            let kind = type == EscapeRawDevice.S_IFBLK ? "block" : "character"
            return RuleHit("\(kind) device node created: \(p)\(e.outcomeNote)", subject: p, path: p)
        }
        guard let path = e.openedPath, !(e.failedNotFound) else { return nil }
        if EscapeRawDevice.memory.holdsEventPath(ctx) || isDisk(path) {
            let how = e.isWriteOpen ? "opened for writing" : "opened"
            return RuleHit("raw device \(how): \(path)\(e.outcomeNote)", subject: path, path: path)
        }
        return nil
    }

    /// /dev/sda, /dev/nvme0n1p2, /dev/loop0 ... (not /dev/shm, /dev/stdin, /dev/loop-control).
    private func isDisk(_ path: String) -> Bool {
        guard PathBytes.hasPrefix(path, EscapeRawDevice.dev) else { return false }
        let name = path.utf8.dropFirst(EscapeRawDevice.dev.count)
        guard !name.contains(PathBytes.slash) else { return false }
        func next(_ p: [UInt8]) -> UInt8? { name.starts(with: p) ? name.dropFirst(p.count).first : nil }
        for p in EscapeRawDevice.letterDisks {
            if let c = next(p), c >= UInt8(ascii: "a"), c <= UInt8(ascii: "z") { return true }
        }
        for p in EscapeRawDevice.numberDisks {
            if let c = next(p), c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { return true }
        }
        return false
    }
}
