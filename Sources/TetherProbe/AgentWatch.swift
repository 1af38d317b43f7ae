import Foundation
import TetherCore

/// Which processes are agents: the policy's selectors, compiled for the kernel's exec hook
/// (exact keys: command names, uids, cgroup ids, executable inodes) and matched against
/// processes that were already running.
public struct AgentSelector: Sendable {
    public var name: String
    public var exe: [Glob]
    public var comm: [String]
    public var uid: [UInt32]
    /// cgroup v2 paths, e.g. "/agents.slice/claude.service" (exact cgroup, not its children).
    public var cgroup: [String]
    /// The agent slot of the sessions this selector starts.
    public var target: Probe.WatchTarget

    public init(name: String, exe: [Glob] = [], comm: [String] = [], uid: [UInt32] = [], cgroup: [String] = [],
                target: Probe.WatchTarget = Probe.WatchTarget()) {
        self.name = name
        self.target = target
        self.exe = exe
        self.comm = comm
        self.uid = uid
        self.cgroup = cgroup
    }
}

public enum AgentWatch {
    /// The policy's agents as kernel watch selectors, each naming its agent's slot. cgroup
    /// globs with wildcards cannot be exact kernel keys; agents already running are matched
    /// in user space, globs included (`match`).
    public static func selectors(_ policy: Policy, slots: AgentSlots) -> [AgentSelector] {
        policy.agents.compactMap { a in
            guard let slot = slots.slot(of: a.name) else { return nil }
            return AgentSelector(name: a.name, exe: a.match.exeGlobs, comm: a.match.comm, uid: a.match.uid,
                                 cgroup: a.match.cgroupGlobs.filter { !$0.hasWildcards }.map(\.pattern),
                                 target: Probe.WatchTarget(agent: slot))
        }
    }

    /// Writes every slot of `slots` into the kernel: each agent's name and mode (a retired
    /// slot follows the defaults' mode). A mode change reaches the agent's running sessions
    /// at once. Runs before the watch maps change, so no key names a slot not yet written.
    public static func writeSlots(_ slots: AgentSlots, policy: Policy, probe: Probe) throws {
        for (slot, s) in slots.slots {
            let agent = s.retired ? policy.defaults : policy.agent(named: s.name)
            try probe.setAgent(slot: slot, name: s.name, enforce: agent.mode == .enforce, retired: s.retired)
        }
    }

    /// Frees the kernel's slots that `slots` lacks, once the watch maps no longer name
    /// them. A slot a session took meanwhile (an exec that matched an old key just before
    /// it went) is kept, retired: returned, so the caller's table can say so too.
    public static func freeSlots(keeping slots: AgentSlots, policy: Policy, probe: Probe) throws -> AgentSlots {
        let inUse = Set(try probe.trackedMembers().map(\.agent))
        var all = slots.slots
        for (slot, s) in try probe.agentSlots() where slots.slots[slot] == nil {
            if inUse.contains(slot) {
                try probe.setAgent(slot: slot, name: s.name, enforce: policy.defaults.mode == .enforce, retired: true)
                all[slot] = AgentSlots.Slot(name: s.name, retired: true)
            } else {
                try probe.clearAgent(slot: slot)
            }
        }
        return AgentSlots(all)
    }

    /// Slots for `policy`, keeping those the kernel already holds (pinned by an earlier
    /// instance, or the policy before a reload) for the agents that still exist, and those
    /// of gone agents that running sessions still use.
    public static func assignSlots(_ policy: Policy, probe: Probe) throws -> AgentSlots {
        let inUse = Set(try probe.trackedMembers().map(\.agent))
        return try AgentSlots.assign(policy, kernel: try probe.agentSlots(), inUse: inUse)
    }

    public struct Installed: Sendable, Equatable {
        public var executables = 0
        public var comms = 0
        public var uids = 0
        public var cgroups = 0
        /// Selectors that matched nothing on this host right now (e.g. an exe glob with no file).
        public var unresolved: [String] = []
    }

    /// A policy's selectors resolved to the exact keys the kernel's exec hook looks up, each
    /// with the agent slot of the session it starts (the first agent naming a key wins; across
    /// kinds the kernel's precedence decides, see `Policy.selectAgent`).
    public struct Compiled: Sendable, Equatable {
        public struct Inode: Hashable, Sendable { public var dev: UInt64; public var ino: UInt64 }
        public var comms: [String: Probe.WatchTarget] = [:]
        public var uids: [UInt32: Probe.WatchTarget] = [:]
        public var cgroups: [UInt64: Probe.WatchTarget] = [:]
        public var inodes: [Inode: Probe.WatchTarget] = [:]
        public var unresolved: [String] = []
        public init() {}

        public var mask: UInt32 {
            (comms.isEmpty ? 0 : 1) | (uids.isEmpty ? 0 : 2) | (cgroups.isEmpty ? 0 : 4) | (inodes.isEmpty ? 0 : 8)
        }
        public var installed: Installed {
            Installed(executables: inodes.count, comms: comms.count, uids: uids.count, cgroups: cgroups.count, unresolved: unresolved)
        }
    }

    /// Resolves selectors (exe globs to inodes, cgroup paths to ids) without touching the kernel.
    public static func compile(_ selectors: [AgentSelector]) -> Compiled {
        var c = Compiled()
        for s in selectors {
            for g in s.exe {
                let files = expand(g)
                if files.isEmpty { c.unresolved.append("\(s.name): exe \(g.pattern) matches no executable") }
                for f in files {
                    var st = stat()
                    guard stat(f, &st) == 0 else { continue }
                    let k = Compiled.Inode(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
                    if c.inodes[k] == nil { c.inodes[k] = s.target }
                }
            }
            for k in s.comm where c.comms[k] == nil { c.comms[k] = s.target }
            for k in s.uid where c.uids[k] == nil { c.uids[k] = s.target }
            for p in s.cgroup {
                guard let id = cgroupID(p) else { c.unresolved.append("\(s.name): cgroup \(p) does not exist"); continue }
                if c.cgroups[id] == nil { c.cgroups[id] = s.target }
            }
        }
        return c
    }

    /// Makes the kernel's watch maps hold exactly `new`. With `old` (what is installed now)
    /// the new keys go in first (an update in place for a kept key), then the mask widens to
    /// both, then stale keys go: a selector both policies share is never missing, so no
    /// matching exec slips through.
    public static func apply(_ new: Compiled, replacing old: Compiled?, probe: Probe) throws {
        guard let old else {
            try probe.clearWatch()
            try add(new, probe: probe)
            try probe.setWatchMask(new.mask)
            return
        }
        try add(new, probe: probe)
        try probe.setWatchMask(new.mask | old.mask)
        for k in old.comms.keys where new.comms[k] == nil { try probe.unwatch(comm: k) }
        for k in old.uids.keys where new.uids[k] == nil { try probe.unwatch(uid: k) }
        for k in old.cgroups.keys where new.cgroups[k] == nil { try probe.unwatch(cgroupID: k) }
        for k in old.inodes.keys where new.inodes[k] == nil { try probe.unwatch(executableDev: k.dev, inode: k.ino) }
        try probe.setWatchMask(new.mask)
    }

    private static func add(_ c: Compiled, probe: Probe) throws {
        for (k, t) in c.comms { try probe.watch(comm: k, t) }
        for (k, t) in c.uids { try probe.watch(uid: k, t) }
        for (k, t) in c.cgroups { try probe.watch(cgroupID: k, t) }
        for (k, t) in c.inodes { try probe.watch(executableDev: k.dev, inode: k.ino, t) }
    }

    /// Replaces the kernel's watch maps with `selectors`.
    public static func install(_ selectors: [AgentSelector], probe: Probe) throws -> Installed {
        let c = compile(selectors)
        try apply(c, replacing: nil, probe: probe)
        return c.installed
    }

    /// The agent a running process belongs to, if any, by the kernel's precedence (see
    /// `Policy.selectAgent`). The facts come from /proc: the executable as the kernel
    /// resolved it, the cgroup, the command name, the real uid.
    public static func match(pid: Int32, _ policy: Policy) -> AgentPolicy? {
        guard let st = ProcFS.stat(pid) else { return nil }
        return policy.selectAgent(exe: ProcFS.exe(pid), cgroup: cgroupPath(pid), comm: st.comm, uid: ProcFS.uid(pid))
    }

    /// Files an exe glob names now: the literal path, or a bounded walk from its fixed prefix.
    public static func expand(_ g: Glob, maxEntries: Int = 200_000) -> [String] {
        if !g.hasWildcards { return access(g.pattern, X_OK) == 0 ? [g.pattern] : [] }
        var out: [String] = []
        var seen = 0
        let fm = FileManager.default
        let start = fixedDirectory(g.pattern)
        guard let walker = fm.enumerator(atPath: start) else { return [] }
        let base = start == "/" ? "" : start
        while let rel = walker.nextObject() as? String {
            seen += 1
            if seen > maxEntries { break }
            let full = base + "/" + rel
            if g.matches(full), access(full, X_OK) == 0 {
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue { out.append(full) }
            }
        }
        return out
    }

    /// The longest leading directory of a glob with no wildcard in it: where a walk starts.
    static func fixedDirectory(_ pattern: String) -> String {
        let wild = pattern.firstIndex { $0 == "*" || $0 == "?" || $0 == "[" || $0 == "\\" } ?? pattern.endIndex
        let head = pattern[..<wild]
        guard let slash = head.lastIndex(of: "/") else { return "/" }
        let dir = String(head[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    /// The cgroup v2 root on this host.
    static var cgroupRoot: String {
        // only a cgroup v2 root has cgroup.controllers (hybrid hosts mount it at unified/)
        for p in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] where access(p + "/cgroup.controllers", F_OK) == 0 {
            return p
        }
        return "/sys/fs/cgroup"
    }

    /// A cgroup v2 id is the inode number of its directory.
    public static func cgroupID(_ path: String) -> UInt64? {
        var st = stat()
        guard stat(cgroupRoot + (path.hasPrefix("/") ? path : "/" + path), &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }

    /// The process's cgroup v2 path ("0::/path" in /proc/PID/cgroup).
    public static func cgroupPath(_ pid: Int32) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") { return String(line.dropFirst(3)) }
        return nil
    }
}
