import Glibc

/// The policy's `confine:` section: what the kernel refuses to a session Tether launches in
/// enforce mode (`tether run`), applied before the agent's first instruction and inherited by
/// every descendant. Sessions Tether adopts (already running) keep the tracepoint guards only.
public struct ConfinementPolicy: Sendable, Equatable {
    /// Landlock: file changes outside the workspace and writable roots, and at the persistence
    /// locations even inside them, are refused (EACCES).
    public var landlock = true
    /// seccomp: the syscalls in `refusedSyscalls` fail with EPERM; the 32-bit and x32 syscall
    /// ABIs kill the caller.
    public var seccomp = true
    /// Landlock (ABI 3) also refuses truncate(2) by path outside the boundary (O_TRUNC needs
    /// the write right anyway). Costs every open a path walk: +15% per open+close measured.
    public var refuseTruncate = true
    /// Landlock scoping (ABI 6): no member can signal a process outside the session.
    public var scopeSignals = true
    /// Landlock scoping (ABI 6): no member can connect to an abstract unix socket made outside
    /// the session.
    public var scopeAbstractUnix = true
    /// Syscalls the seccomp filter refuses (names from `refusable`).
    public var refusedSyscalls: [String] = ConfinementPolicy.refusedByDefault

    public init() {}

    /// What no agent needs and an evader loves: I/O the syscall tracer cannot see into
    /// (io_uring), loading code into the kernel, opening files by handle (around every path
    /// check), writing another process's memory, stealing its descriptors, exploit
    /// primitives (userfaultfd), and host-wide switches (reboot, swap, clock, accounting).
    public static let refusedByDefault = [
        "io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "init_module", "finit_module",
        "delete_module", "kexec_load", "kexec_file_load", "open_by_handle_at", "process_vm_writev",
        "pidfd_getfd", "userfaultfd", "reboot", "swapon", "swapoff", "iopl", "ioperm", "acct",
        "settimeofday", "clock_settime", "clock_adjtime",
    ]
    /// Every syscall a policy may name: the defaults and those that ordinary work sometimes
    /// uses (debuggers, profilers, kernel keyrings), refused only where a policy says so.
    public static let refusable = refusedByDefault + ["process_vm_readv", "ptrace", "perf_event_open", "keyctl", "add_key", "request_key"]
}

/// A session's confinement compiled from its agent's policy and the host's files, before
/// the launch: what Landlock allows (every other change of a file is refused), which ports
/// it leaves TCP connect to, and what seccomp refuses. Pure: the file system is asked
/// through `FileSystemView`, so it is tested without root.
public struct ConfinementPlan: Sendable, Equatable {
    /// Where the session may change files (every handled right beneath each path; a file gets
    /// the file rights only).
    public var writable: [String] = []
    /// Roots the policy names that do not exist at launch: Landlock attaches rules to files
    /// that exist, so the session cannot create these (create them before the launch).
    public var absent: [String] = []
    /// Roots holding a persistence location: opened entry by entry (what exists in them may be
    /// changed; no new entry can be made directly in them or in the directories leading to
    /// the location).
    public var carved: [String] = []
    /// Roots whose carving needed more than the rule budget: not writable at all.
    public var overBudget: [String] = []
    /// TCP ports connect may reach (nil: Landlock leaves TCP connect to the cgroup hooks),
    /// and why not when nil.
    public var connectPorts: [UInt16]?
    public var connectNote = ""
    public var scopeSignals = false
    public var scopeAbstractUnix = false
    public var refuseTruncate = false
    public var landlock = false
    public var refusedSyscalls: [String] = []

    /// Rules one session may use for its file boundary.
    public static let ruleBudget = 4096

    public init() {}

    public enum Kind: Sendable { case directory, file, other }

    /// The file system as the plan sees it.
    public protocol FileSystemView {
        /// What `path` is (following symbolic links), or nil if it does not exist.
        func kind(_ path: String) -> Kind?
        /// The names in a directory, or nil if it cannot be read.
        func entries(_ dir: String) -> [String]?
    }

    /// `agent`'s confinement for a session with `workspace`, run by `uid` whose homes (the
    /// passwd home and the HOME it is started with) are `homes`.
    public static func compile(_ agent: AgentPolicy, workspace: String, homes: [String], uid: UInt32,
                               fs: FileSystemView = LocalFileSystem()) -> ConfinementPlan {
        var plan = ConfinementPlan()
        let c = agent.confine
        if c.seccomp { plan.refusedSyscalls = c.refusedSyscalls }
        guard c.landlock else { return plan }
        plan.landlock = true
        plan.scopeSignals = c.scopeSignals
        plan.scopeAbstractUnix = c.scopeAbstractUnix
        plan.refuseTruncate = c.refuseTruncate

        // The roots, made absolute for each home (`~`), globs expanded to what exists.
        var roots: [String] = []
        let homeList = homes.isEmpty ? [String?.none] : homes.map { Optional($0) }
        for raw in [workspace] + agent.boundary.workspace + agent.boundary.writable {
            for home in homeList {
                guard let r = RootSet.expand(raw, home: home, uid: uid) else { continue }
                if let g = try? Glob(r), g.hasWildcards {
                    roots += expandGlob(r, fs: fs)
                } else if fs.kind(r) == nil {
                    if !plan.absent.contains(r) { plan.absent.append(r) }
                } else {
                    roots.append(r)
                }
            }
        }
        roots = unique(roots)

        // The persistence locations that stay refused inside those roots, and Tether's own.
        var protected: [String] = []
        for loc in KernelGuardLocations.persistence(for: agent) {
            if loc.inHome { protected += homes.map { $0 + "/" + loc.path } } else { protected.append(loc.path) }
        }
        protected += TetherIdentity.defaultPaths
        protected = unique(protected.map(normalized))

        var budget = ruleBudget
        for root in roots {
            let inside = protected.filter { $0 == root || isBelow($0, root) }
            if inside.isEmpty {
                plan.writable.append(root)
                budget -= 1
                continue
            }
            if inside.contains(root) { continue } // the root is itself protected: the location wins
            var rules: [String] = []
            if carve(root, around: inside, fs: fs, into: &rules, budget: budget) {
                plan.carved.append(root)
                plan.writable += rules
                budget -= rules.count
            } else {
                plan.overBudget.append(root)
            }
        }

        // TCP connect: Landlock matches ports only; it can help only where every allowed
        // destination names its ports and loopback does not get every port.
        let net = agent.boundary.network
        if net.allowLoopback {
            plan.connectNote = "loopback may use any port"
        } else if net.allow.contains(where: { $0.ports.isEmpty }) {
            plan.connectNote = "an allowed network has no port list"
        } else {
            var ports = Set<UInt16>()
            var total = 0
            for a in net.allow { for r in a.ports { total += Int(r.high) - Int(r.low) + 1 } }
            if total > 1024 {
                plan.connectNote = "the allowed ports are more than 1024"
            } else {
                for a in net.allow { for r in a.ports { for p in r.low...r.high { ports.insert(p) } } }
                plan.connectPorts = ports.sorted()
            }
        }
        return plan
    }

    /// The entries of `dir` that lead nowhere near a protected location get every right;
    /// those on the way to one are entered; the protected ones get none. False when the
    /// budget runs out (nothing of `dir` is then allowed).
    static func carve(_ dir: String, around protected: [String], fs: FileSystemView, into rules: inout [String], budget: Int) -> Bool {
        guard let names = fs.entries(dir) else { return true } // unreadable: nothing in it is allowed
        for name in names.sorted() {
            let path = dir == "/" ? "/" + name : dir + "/" + name
            if protected.contains(path) { continue }
            if protected.contains(where: { isBelow($0, path) }) {
                guard fs.kind(path) == .directory else { continue }
                if !carve(path, around: protected, fs: fs, into: &rules, budget: budget) { return false }
                continue
            }
            rules.append(path)
            if rules.count > budget { return false }
        }
        return true
    }

    static func expandGlob(_ pattern: String, fs: FileSystemView) -> [String] {
        // Globs in roots are written with wildcards in their last component (`~/.aider*`);
        // deeper ones are matched against each directory's entries, level by level.
        guard let g = try? Glob(pattern) else { return [] }
        var level = ["/"]
        let parts = pattern.split(separator: "/").map(String.init)
        for (i, part) in parts.enumerated() {
            var next: [String] = []
            let last = i == parts.count - 1
            for d in level {
                let base = d == "/" ? "" : d
                if part.contains(where: { "*?[".contains($0) }) {
                    for name in fs.entries(d) ?? [] {
                        let p = base + "/" + name
                        if last ? g.matches(p) : (fs.kind(p) == .directory) { next.append(p) }
                    }
                } else if fs.kind(base + "/" + part) != nil {
                    next.append(base + "/" + part)
                }
            }
            level = next
            if level.isEmpty || level.count > 256 { break }
        }
        return level.filter { g.matches($0) }
    }

    static func isBelow(_ path: String, _ dir: String) -> Bool { dir == "/" ? path != "/" : path.hasPrefix(dir + "/") }

    static func normalized(_ p: String) -> String {
        var r = p
        while r.count > 1, r.hasSuffix("/") { r.removeLast() }
        return r
    }

    static func unique(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }
}

/// The host's own files, for `ConfinementPlan.compile`.
public struct LocalFileSystem: ConfinementPlan.FileSystemView {
    public init() {}
    public func kind(_ path: String) -> ConfinementPlan.Kind? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .file
        default: return .other
        }
    }
    public func entries(_ dir: String) -> [String]? { HostFiles.entries(dir) }
}
