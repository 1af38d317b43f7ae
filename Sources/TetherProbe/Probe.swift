import CTetherProbe
import Foundation
import TetherCore

/// A failed kernel operation: what was attempted and the errno it ended with.
public struct ProbeError: Error, CustomStringConvertible {
    public var operation: String
    public var errno: Int32
    public var detail: String
    /// A kernel (BPF) operation: EPERM/EACCES then means missing privileges, and says so.
    public var kernel: Bool
    public init(_ operation: String, _ rc: Int32, detail: String = "", kernel: Bool = true) {
        self.operation = operation
        self.errno = rc < 0 ? -rc : rc
        self.detail = detail
        self.kernel = kernel
    }
    public var description: String {
        var s = detail.isEmpty ? "\(operation): \(String(cString: strerror(errno)))" : detail
        if kernel && (errno == EPERM || errno == EACCES) {
            s += " (loading BPF needs root, or CAP_BPF and CAP_PERFMON)"
        }
        return s
    }
}

public struct ProbeOptions: Sendable {
    /// Ring buffer size in bytes (power of two).
    /// The reader maps the data area once; the kernel's pages count in its RSS from the
    /// start.
    public var ringBufferBytes: UInt32 = 16 << 20
    /// Bytes a CPU writes between two wakeups of the reader; in between, the timed poll
    /// collects them.
    public var wakeupBytes: UInt32 = 1 << 20
    /// Load the empty floor programs instead of Tether's (benchmarks only).
    public var floorOnly = false
    /// Pin maps and links in this bpffs directory so the kernel side outlives the process,
    /// and take over what an earlier instance pinned there (sessions, frozen marks, unread events).
    public var pinDirectory: String?
    public init() {}
}

/// Counters of the kernel side (summed over CPUs).
public struct ProbeStats: Sendable, Equatable {
    public var events: UInt64 = 0
    public var drops: UInt64 = 0
    public var trackFull: UInt64 = 0
    /// Guard-matched records the full ring buffer could not take, delivered on the urgent ring.
    public var rescued: UInt64 = 0
    /// Guard-matched or loss records the urgent ring could not take either.
    public var urgentDrops: UInt64 = 0
    /// Every event the kernel could not deliver.
    public var lost: UInt64 { drops + urgentDrops }
}

/// The loaded BPF programs. The only Swift type that calls into CTetherProbe.
public final class Probe {
    private var handle: OpaquePointer?
    private let box: RecordBox

    final class RecordBox {
        var onRecord: (UnsafeRawBufferPointer) -> Void = { _ in }
    }

    /// Loads and attaches the programs. `onRecord` runs on the thread that calls `poll`.
    public init(options: ProbeOptions = ProbeOptions(), onRecord: @escaping (UnsafeRawBufferPointer) -> Void = { _ in }) throws {
        try Probe.ensureFilesystems(bpffs: options.pinDirectory != nil)
        box = RecordBox()
        box.onRecord = onRecord
        var err = [CChar](repeating: 0, count: 1024)
        var h: OpaquePointer?
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        let pin = options.pinDirectory.map { strdup($0) } ?? nil
        defer { free(pin) }
        var opts = tp_options(ringbuf_bytes: options.ringBufferBytes, wakeup_bytes: options.wakeupBytes,
                              floor_only: options.floorOnly ? 1 : 0, pin_dir: pin)
        let rc = tp_open(&opts, { ctx, data, size in
            let box = Unmanaged<RecordBox>.fromOpaque(ctx!).takeUnretainedValue()
            box.onRecord(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }, ctx, &h, &err, err.count)
        guard rc == 0, let h else {
            throw ProbeError("loading BPF programs", rc, detail: String(cString: err))
        }
        handle = h
        if !options.floorOnly { (dcacheHashed, dcacheNote) = learnDcacheTable() }
    }

    /// What loading found of the dcache's hash table (`DcacheTable`): whether the resolver
    /// looks names up by hash, and a line for the log.
    public private(set) var dcacheHashed = false
    public private(set) var dcacheNote = "the dcache's hash table: not looked for (the floor object has no resolver)"

    deinit { close() }

    /// Closes our handles; pinned programs stay attached and keep guarding.
    public func close() {
        if let h = handle { tp_close(h) }
        handle = nil
    }

    /// A deliberate stop: removes the pins so closing detaches everything.
    public func unpin() throws {
        let rc = tp_unpin(h)
        if rc < 0 { throw ProbeError("removing pins", rc) }
    }

    /// A deliberate stop that keeps the sessions: the programs detach on close, the pinned
    /// maps stay for the next instance.
    public func unpinLinks() throws {
        let rc = tp_unpin_links(h)
        if rc < 0 { throw ProbeError("removing link pins", rc) }
    }

    /// True if this probe took over pinned state an earlier instance left.
    public var resumedPinnedState: Bool { tp_resumed_pins(h) == 1 }

    public func setRecordHandler(_ fn: @escaping (UnsafeRawBufferPointer) -> Void) { box.onRecord = fn }

    /// The loaded object, for this module's other files.
    var loaded: OpaquePointer { h }

    private var h: OpaquePointer {
        guard let handle else { preconditionFailure("Probe used after close()") }
        return handle
    }

    /// What a front end says of the hooks skipped, if any.
    public static func skippedNote(_ skipped: [String]) -> String? {
        skipped.isEmpty ? nil : "hooks this kernel or architecture lacks, not watched: \(skipped.joined(separator: ", "))"
    }

    /// Hooks attached, and those skipped: syscalls this architecture lacks, tracepoints this kernel lacks.
    public func hooks() -> (attached: Int, skipped: [String]) {
        var attached: UInt32 = 0, skipped: UInt32 = 0
        var names = [CChar](repeating: 0, count: 1024)
        _ = tp_hooks(h, &attached, &skipped, &names, names.count)
        let list = String(cString: names).split(separator: ",").map(String.init)
        return (Int(attached), list)
    }

    /// Waits up to `timeoutMs` for a wakeup, then drains the ring buffer.
    @discardableResult
    public func poll(timeoutMs: Int32) throws -> Int {
        let n = tp_poll(h, timeoutMs)
        if n < 0 { throw ProbeError("ring buffer poll", n) }
        return Int(n)
    }

    public func stats() throws -> ProbeStats {
        var v = [UInt64](repeating: 0, count: Int(TE_STAT_MAX.rawValue))
        let rc = tp_stats(h, &v)
        if rc < 0 { throw ProbeError("reading stats", rc) }
        return ProbeStats(events: v[Int(TE_STAT_EVENTS.rawValue)], drops: v[Int(TE_STAT_DROPS.rawValue)],
                          trackFull: v[Int(TE_STAT_TRACK_FULL.rawValue)], rescued: v[Int(TE_STAT_RESCUED.rawValue)],
                          urgentDrops: v[Int(TE_STAT_URGENT_DROPS.rawValue)])
    }

    /// Ring buffer drops per CPU.
    public func dropsPerCPU() throws -> [UInt64] {
        var v = [UInt64](repeating: 0, count: 1024)
        let n = tp_stat_per_cpu(h, UInt32(TE_STAT_DROPS.rawValue), &v, UInt32(v.count))
        if n < 0 { throw ProbeError("reading drops", n) }
        return Array(v[0..<Int(n)])
    }

    /// A tracked entry's flags: the session's own mode, if it has one (else its agent's), and
    /// whether a refused syscall holds its caller (TE_TRACK_HOLD).
    static func trackFlags(_ mode: EnforcementMode?, hold: Bool = false) -> UInt16 {
        let h = hold ? UInt16(TE_TRACK_HOLD) : 0
        guard let mode else { return h }
        return h | UInt16(TE_TRACK_MODE_SET) | (mode == .enforce ? UInt16(TE_TRACK_ENFORCE) : 0)
    }

    /// Puts `pid` into `session` under the agent in `agent` (its slot, see `setAgent`).
    /// `mode`: the session's own mode, overriding its agent's (nil: the agent's mode, as the
    /// kernel's `agents` map has it now). `hold`: a member whose syscall the kernel refuses
    /// stops until `release` (a confined session whose refusals are explained to the agent).
    public func track(pid: Int32, session: SessionID, root: Int32, agent: UInt16 = 0, mode: EnforcementMode? = nil, hold: Bool = false) throws {
        let rc = tp_track(h, UInt32(bitPattern: pid), session.raw, UInt32(bitPattern: root), Probe.trackFlags(mode, hold: hold), agent)
        if rc < 0 { throw ProbeError("tracking pid \(pid)", rc) }
    }

    /// Tracks a process that is already running (found in /proc). Safe against the process
    /// exiting meanwhile: its pidfd pins it while the entry goes in, an entry the kernel
    /// already has is left alone, and if the process has exited by then the entry is taken
    /// back (exit has already pruned, so a recycled pid would otherwise inherit it).
    /// Returns false if the process was gone or already tracked.
    @discardableResult
    public func adopt(pid: Int32, session: SessionID, root: Int32, agent: UInt16 = 0, mode: EnforcementMode? = nil) throws -> Bool {
        let fd = tp_pidfd_open(pid)
        if fd < 0 { return false }
        defer { Glibc.close(fd) }
        let rc = tp_track_new(h, UInt32(bitPattern: pid), session.raw, UInt32(bitPattern: root), Probe.trackFlags(mode), agent)
        if rc == -EEXIST { return false }
        if rc < 0 { throw ProbeError("tracking pid \(pid)", rc) }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if Glibc.poll(&p, 1, 0) > 0 {
            try? untrack(pid: pid)
            return false
        }
        return true
    }

    public func untrack(pid: Int32) throws {
        let rc = tp_untrack(h, UInt32(bitPattern: pid))
        if rc < 0 && rc != -ENOENT { throw ProbeError("untracking pid \(pid)", rc) }
    }

    /// What the kernel's tracked entry of a process says.
    public struct Member: Sendable, Equatable {
        public var pid: Int32
        public var session: SessionID
        public var root: Int32
        /// The session's agent slot.
        public var agent: UInt16
        /// The session's own mode, if it has one (else it follows its agent's).
        public var ownMode: EnforcementMode?
        /// A refused syscall holds the member until user space continues it (TE_TRACK_HOLD).
        public var hold: Bool
        init(_ pid: UInt32, _ t: te_tracked) {
            hold = t.flags & UInt16(TE_TRACK_HOLD) != 0
            self.pid = Int32(bitPattern: pid)
            session = SessionID(t.session)
            root = Int32(bitPattern: t.root_tgid)
            agent = t.agent
            ownMode = t.flags & UInt16(TE_TRACK_MODE_SET) == 0 ? nil : (t.flags & UInt16(TE_TRACK_ENFORCE) != 0 ? .enforce : .monitor)
        }
    }

    public func session(of pid: Int32) -> SessionID? { member(pid)?.session }

    /// The tracked entry of `pid`, or nil if it is not tracked.
    public func member(_ pid: Int32) -> Member? {
        var t = te_tracked()
        return tp_lookup(h, UInt32(bitPattern: pid), &t) == 0 ? Member(UInt32(bitPattern: pid), t) : nil
    }

    /// Every tracked pid and its session.
    public func tracked() throws -> [(pid: Int32, session: SessionID)] {
        try trackedMembers().map { ($0.pid, $0.session) }
    }

    /// Every tracked process with what its entry says.
    public func trackedMembers() throws -> [Member] {
        let max = 65536
        var pids = [UInt32](repeating: 0, count: max)
        var entries = [te_tracked](repeating: te_tracked(), count: max)
        let n = tp_tracked(h, &pids, &entries, UInt32(max))
        if n < 0 { throw ProbeError("listing tracked pids", n) }
        return (0..<Int(n)).map { Member(pids[$0], entries[$0]) }
    }

    // MARK: agents

    /// Writes an agent slot: its name and mode (`retired`: the agent left the policy, its
    /// sessions follow `enforce`, the defaults' mode). Mode changes reach running sessions at once.
    public func setAgent(slot: UInt16, name: String, enforce: Bool, retired: Bool = false) throws {
        let flags = UInt32(TE_AGENT_IN_USE) | (enforce ? UInt32(TE_AGENT_ENFORCE) : 0) | (retired ? UInt32(TE_AGENT_RETIRED) : 0)
        try check(tp_agent_set(h, UInt32(slot), name, flags), "writing agent slot \(slot) (\(name))")
    }

    /// Empties an agent slot.
    public func clearAgent(slot: UInt16) throws { try check(tp_agent_set(h, UInt32(slot), "", 0), "clearing agent slot \(slot)") }

    /// The agent slots in use, as the kernel holds them (pinned: an earlier instance's).
    public func agentSlots() throws -> [UInt16: AgentSlots.Slot] {
        var out: [UInt16: AgentSlots.Slot] = [:]
        for slot in 0..<UInt16(TE_AGENT_MAX) {
            var a = te_agent()
            try check(tp_agent_get(h, UInt32(slot), &a), "reading agent slot \(slot)")
            guard a.flags & UInt32(TE_AGENT_IN_USE) != 0 else { continue }
            let name = RecordDecoder.cString(a.name)
            out[slot] = AgentSlots.Slot(name: name, retired: a.flags & UInt32(TE_AGENT_RETIRED) != 0)
        }
        return out
    }

    /// Signals `pid` through a pidfd, only if it is still a member of `session` once the
    /// pidfd pins it. Returns false if it is gone or no longer a member (ESRCH).
    @discardableResult
    public func signal(pid: Int32, session: SessionID, signal sig: Int32) throws -> Bool {
        let rc = tp_session_signal(h, pid, session.raw, sig)
        if rc == -ESRCH { return false }
        if rc < 0 { throw ProbeError("signalling pid \(pid) with signal \(sig)", rc) }
        return true
    }

    /// Continues member `pid`, which the kernel held after refusing one of its syscalls
    /// (TE_GUARD_HELD), unless its session is frozen for a person to decide: a freeze that
    /// lands between the check and the SIGCONT is put back at once. False if it is gone.
    @discardableResult
    public func release(pid: Int32, session: SessionID) -> Bool {
        guard !isFrozen(session) else { return true }
        guard (try? signal(pid: pid, session: session, signal: SIGCONT)) == true else { return false }
        if isFrozen(session) { _ = try? signal(pid: pid, session: session, signal: SIGSTOP) }
        return true
    }

    /// Continues every member that may be held at a refusal (of `session`, or of all
    /// sessions): when no record will come for it any more (lost, or nobody is reading:
    /// `tether run` ending, tetherd starting after a stop). A member that was not stopped
    /// ignores SIGCONT; a frozen session stays frozen.
    public func releaseHeld(session: SessionID? = nil) {
        for m in (try? trackedMembers()) ?? [] where m.hold && (session == nil || m.session == session) {
            release(pid: m.pid, session: m.session)
        }
    }

    /// Writes `line` to member `pid`'s stderr if it is a terminal or a pipe, without ever
    /// blocking (a full pipe drops it). False when it is not written: gone, not a member of
    /// `session`, another kind of file, or full.
    public func tell(pid: Int32, session: SessionID, _ line: String) -> Bool {
        let fd = tp_session_open_fd(h, pid, session.raw, 2)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        let bytes = Array(line.utf8)
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        return n == bytes.count
    }

    // MARK: guards

    /// Tracked processes whose fast-path bit someone cleared get it back; returns how many.
    public func repairTrackedBits() throws -> Int {
        let n = tp_repair_tracked_bits(h)
        try check(n < 0 ? n : 0, "checking the tracked bitmap")
        return Int(n)
    }

    public func setGuards(_ guards: Guards) throws { try check(tp_guard_config(h, guards.rawValue), "configuring guards") }

    /// The guard switches in force.
    public func guards() throws -> Guards {
        var g: UInt32 = 0
        try check(tp_guard_config_get(h, &g), "reading the guard switches")
        return Guards(rawValue: g)
    }

    /// Starts writing a new guard plan beside the one in force (see `sweepGuardPlan`).
    public func beginGuardPlan() throws { try check(tp_guard_begin(h), "starting a guard plan") }

    /// Removes what the plans before the one begun last wrote; returns how many entries.
    @discardableResult
    public func sweepGuardPlan() throws -> Int {
        let n = tp_guard_sweep(h)
        try check(n, "removing the previous guard plan")
        return Int(n)
    }

    public func protect(pid: Int32, _ on: Bool = true) throws {
        try check(tp_protect_pid(h, UInt32(bitPattern: pid), on ? 1 : 0), "protecting pid \(pid)")
    }

    /// The pids the tamper guard protects (pinned: an earlier instance's may still be there).
    public func protectedPids() throws -> [Int32] {
        var out = [UInt32](repeating: 0, count: 1024)
        let n = tp_protected_pids(h, &out, UInt32(out.count))
        if n < 0 { throw ProbeError("listing protected pids", n) }
        return out.prefix(Int(n)).map { Int32(bitPattern: $0) }
    }

    /// Protects a file or directory by identity (st_dev, st_ino as stat(2) returns them).
    public func protect(dev: UInt64, inode: UInt64, _ p: Protection) throws {
        try check(tp_protect_inode(h, tp_kernel_dev(dev), inode, p.rawValue), "protecting inode \(inode)")
    }

    /// Registers a deputy's executable (st_dev, st_ino as stat(2) returns them) with its kind
    /// (`Deputies.servers`): a member's unix connect to a process running it is judged so.
    public func registerDeputy(dev: UInt64, inode: UInt64, kind: UInt32) throws {
        try check(tp_deputy_exe(h, tp_kernel_dev(dev), inode, kind), "registering deputy executable \(inode)")
    }

    /// Registers a process that runs a deputy's script under an interpreter (`start`: its
    /// start in clock ticks since boot, /proc/PID/stat's field 22 at 100 per second), part
    /// of the guard plan being written: judged as a deputy while that process lives.
    public func registerDeputy(pid: Int32, kind: UInt32, start: UInt64) throws {
        try check(tp_deputy_proc(h, UInt32(clamping: pid), kind, start), "registering deputy process \(pid)")
    }

    /// Registers a scripted deputy's interpreter (st_dev, st_ino as stat(2) returns them)
    /// and its script's path as a launcher would spell it, part of the guard plan being
    /// written: the kernel registers an exec of that interpreter naming that path among its
    /// first arguments as the deputy (`registerDeputy(pid:)`'s map) before it runs. `in`:
    /// for a file name, the directory (st_dev, st_ino) it names a file of when it is the
    /// exec's working directory.
    public func registerDeputyScript(interpreterDev dev: UInt64, inode: UInt64, script: String, in dir: (dev: UInt64, ino: UInt64)? = nil,
                                     kind: UInt32) throws {
        try check(tp_deputy_script(h, tp_kernel_dev(dev), inode, Probe.stringHash(Array(script.utf8)),
                                   dir.map { tp_kernel_dev($0.dev) } ?? 0, dir?.ino ?? 0, kind),
                  "registering deputy script \(script)")
    }

    /// The kernel's hash of a string (te_str_hash in bpf/entered.h): FNV-1a, 64-bit, seeded
    /// with the length, over little-endian 8-byte words, the last one zero-padded.
    static func stringHash(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(bytes.count)
        var i = 0
        while i < bytes.count {
            var w: UInt64 = 0
            for (k, b) in bytes[i..<min(i + 8, bytes.count)].enumerated() { w |= UInt64(b) << (8 * UInt64(k)) }
            h = (h ^ w) &* 0x100_0000_01b3
            i += 8
        }
        return h
    }

    /// The clock ticks per second of a deputy process's start (`registerDeputy(pid:)`).
    public static let deputyStartHz = UInt64(TE_USER_HZ)

    /// An address of this host's interfaces (16 bytes, IPv4 mapped), part of the guard plan
    /// being written: a connect there to a port a deputy listens on reaches the deputy.
    public func markLocal(address: [UInt8]) throws {
        precondition(address.count == 16)
        try check(tp_local_addr(h, address), "marking a local address")
    }

    /// The deputy_exes flag of a deputy that serves over TCP only (sshd).
    public static let tcpOnlyDeputy = UInt32(TE_DEPUTY_TCP_ONLY)

    public func unprotect(dev: UInt64, inode: UInt64) throws {
        try check(tp_unprotect_inode(h, tp_kernel_dev(dev), inode), "unprotecting inode \(inode)")
    }

    /// Names this long (bytes) or longer cannot be protected by name.
    public static let protectedNameLimit = Int(TE_PNAME_MAX)
    /// Port ranges one egress entry holds.
    public static let portRangeLimit = Int(TE_NET_PORTS)

    /// Protects the entry `name` of a directory (st_dev, st_ino of the directory), whether
    /// or not it exists: creating it, or renaming, linking or symlinking onto it, is guarded.
    public func protect(directoryDev dev: UInt64, inode: UInt64, name: String, _ p: Protection) throws {
        try check(tp_protect_name(h, tp_kernel_dev(dev), inode, name, p.rawValue), "protecting name \"\(name)\" in directory inode \(inode)")
    }

    /// Forgets every protected inode and name.
    public func clearProtectedInodes() throws { try check(tp_protect_clear(h), "clearing protected inodes") }

    /// Allows a destination prefix (16-byte address, IPv4 mapped) for an agent slot, on port
    /// ranges; no ranges = any port.
    public func allowEgress(agent: UInt16, address: [UInt8], bits: Int, ports: [ClosedRange<UInt16>]) throws {
        precondition(address.count == 16)
        let lo = ports.map(\.lowerBound), hi = ports.map(\.upperBound)
        try check(tp_egress_allow(h, agent, address, UInt32(bits), lo, hi, UInt32(ports.count)), "allowing egress")
    }

    /// `ports`: the ranges refused to that prefix; none: every port.
    public func denyEgress(address: [UInt8], bits: Int, ports: [ClosedRange<UInt16>] = []) throws {
        precondition(address.count == 16)
        let lo = ports.map(\.lowerBound), hi = ports.map(\.upperBound)
        try check(tp_egress_deny(h, address, UInt32(bits), lo, hi, UInt32(ports.count)), "denying egress")
    }

    public func clearEgress() throws { try check(tp_egress_clear(h), "clearing egress lists") }

    public func setFrozen(_ session: SessionID, _ frozen: Bool) throws {
        try check(tp_frozen_set(h, session.raw, frozen ? 1 : 0), "marking session \(session)")
    }

    public func isFrozen(_ session: SessionID) -> Bool { tp_frozen_get(h, session.raw) == 1 }

    // MARK: watch policy

    public func clearWatch() throws { try check(tp_watch_clear(h), "clearing watch maps") }
    /// What a session started by a watch match gets: its agent's slot (the mode is the
    /// agent's, from the `agents` map).
    public struct WatchTarget: Sendable, Equatable, Hashable {
        public var agent: UInt16
        public init(agent: UInt16 = 0) { self.agent = agent }
        var value: UInt32 { UInt32(agent) << 16 }
    }

    public func watch(comm: String, _ t: WatchTarget = WatchTarget()) throws { try check(tp_watch_comm(h, comm, t.value), "watching comm \(comm)") }
    public func watch(uid: UInt32, _ t: WatchTarget = WatchTarget()) throws { try check(tp_watch_uid(h, uid, t.value), "watching uid \(uid)") }
    public func watch(cgroupID: UInt64, _ t: WatchTarget = WatchTarget()) throws { try check(tp_watch_cgroup(h, cgroupID, t.value), "watching cgroup \(cgroupID)") }
    /// Watches an executable file by identity (st_dev, st_ino), as the exec hook sees it.
    public func watch(executableDev dev: UInt64, inode: UInt64, _ t: WatchTarget = WatchTarget()) throws {
        try check(tp_watch_inode(h, tp_kernel_dev(dev), inode, t.value), "watching inode \(inode)")
    }

    public func unwatch(comm: String) throws { try check(absent(tp_watch_remove_comm(h, comm)), "unwatching comm \(comm)") }
    public func unwatch(uid: UInt32) throws { try check(absent(tp_watch_remove_uid(h, uid)), "unwatching uid \(uid)") }
    public func unwatch(cgroupID: UInt64) throws { try check(absent(tp_watch_remove_cgroup(h, cgroupID)), "unwatching cgroup \(cgroupID)") }
    public func unwatch(executableDev dev: UInt64, inode: UInt64) throws {
        try check(absent(tp_watch_remove_inode(h, tp_kernel_dev(dev), inode)), "unwatching inode \(inode)")
    }
    /// Which watch maps the exec hook consults (1 comm, 2 uid, 4 cgroup, 8 inode).
    public func setWatchMask(_ mask: UInt32) throws { try check(tp_watch_set_mask(h, mask), "setting the watch mask") }

    private func absent(_ rc: Int32) -> Int32 { rc == -ENOENT ? 0 : rc }

    private func check(_ rc: Int32, _ what: String) throws {
        if rc < 0 { throw ProbeError(what, rc) }
    }

    /// tracefs and bpffs are needed for attaching and pinning; mount them if absent.
    static func ensureFilesystems(bpffs: Bool) throws {
        if bpffs && access("/sys/fs/bpf", F_OK) == 0 {
            var st = stat(), parent = stat()
            // a mount point has a different device than its parent directory
            if stat("/sys/fs/bpf", &st) == 0, stat("/sys/fs", &parent) == 0, st.st_dev == parent.st_dev {
                if mount("bpf", "/sys/fs/bpf", "bpf", 0, nil) != 0 {
                    throw ProbeError("mounting bpffs on /sys/fs/bpf", errno)
                }
            }
        }
        func mounted(_ path: String) -> Bool {
            access(path + "/events", F_OK) == 0 || access(path + "/available_events", F_OK) == 0
        }
        if !mounted("/sys/kernel/tracing") && !mounted("/sys/kernel/debug/tracing") {
            if mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nil) != 0 && errno != EBUSY {
                throw ProbeError("mounting tracefs on /sys/kernel/tracing", errno)
            }
        }
    }
}

/// Kernel guards to switch on (TE_GUARDS_*).
public struct Guards: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let tamper = Guards(rawValue: UInt32(TE_GUARDS_TAMPER))
    public static let write = Guards(rawValue: UInt32(TE_GUARDS_WRITE))
    public static let egress = Guards(rawValue: UInt32(TE_GUARDS_EGRESS))
    public static let sysctl = Guards(rawValue: UInt32(TE_GUARDS_SYSCTL))
    public static let rawSockets = Guards(rawValue: UInt32(TE_GUARDS_RAWSOCK))
    public static let devices = Guards(rawValue: UInt32(TE_GUARDS_DEVICE))
    public static let tty = Guards(rawValue: UInt32(TE_GUARDS_TTY))
    public static let deputy = Guards(rawValue: UInt32(TE_GUARDS_DEPUTY))
    public static let all: Guards = [.tamper, .write, .egress, .sysctl, .rawSockets, .devices, .tty, .deputy]
}

/// How a protected inode is guarded (TE_PROTECT_*).
public struct Protection: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// A persistence location: opening it for write kills the writer and freezes its session.
    public static let write = Protection(rawValue: UInt32(TE_PROTECT_WRITE))
    /// Tether's own files: writing them is tampering.
    public static let tamper = Protection(rawValue: UInt32(TE_PROTECT_TAMPER))
    /// A directory: the protection covers files opened for write directly inside it.
    public static let directory = Protection(rawValue: UInt32(TE_PROTECT_DIR))
    /// A location the rules judge and no guard acts on: a write there is marked (noted) so
    /// that a flood cannot drop its record.
    public static let note = Protection(rawValue: UInt32(TE_PROTECT_NOTE))
    /// A credential location the rules judge on a read: a read there is noted, so that a
    /// flood cannot drop its record. Guards nothing.
    public static let secret = Protection(rawValue: UInt32(TE_PROTECT_SECRET))
}

/// A file capability (security.capability) removed: 0, or -errno (-ENODATA: it had none).
/// Never through a symlink at the last component.
public func removeFileCapability(_ path: String) -> Int32 { tp_remove_file_capability(path) }
