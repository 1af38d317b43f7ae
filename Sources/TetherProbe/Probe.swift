import CTetherProbe
import Foundation
import TetherCore

/// A failed kernel operation: what was attempted and the errno it ended with.
public struct ProbeError: Error, CustomStringConvertible {
    public var operation: String
    public var errno: Int32
    public var detail: String
    public init(_ operation: String, _ rc: Int32, detail: String = "") {
        self.operation = operation
        self.errno = rc < 0 ? -rc : rc
        self.detail = detail
    }
    public var description: String {
        var s = detail.isEmpty ? "\(operation): \(String(cString: strerror(errno)))" : detail
        if errno == EPERM || errno == EACCES {
            s += " (loading BPF needs root, or CAP_BPF and CAP_PERFMON)"
        }
        return s
    }
}

public struct ProbeOptions: Sendable {
    /// Ring buffer size in bytes (power of two).
    public var ringBufferBytes: UInt32 = 16 << 20
    /// Bytes waiting before the kernel wakes the reader; below it the timed poll collects.
    public var wakeupBytes: UInt32 = 64 << 10
    /// Load the empty floor programs instead of Tether's (benchmarks only).
    public var floorOnly = false
    /// bpffs directory to pin the tracked map in, so sessions outlive this process (the
    /// daemon across restarts); a map already pinned there is reused. nil = not pinned.
    public var pinDirectory: String?
    public init() {}
}

/// Counters of the kernel side (summed over CPUs).
public struct ProbeStats: Sendable, Equatable {
    public var events: UInt64 = 0
    public var drops: UInt64 = 0
    public var trackFull: UInt64 = 0
    /// Every event the kernel could not deliver.
    public var lost: UInt64 { drops }
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
        try Probe.ensureFilesystems()
        box = RecordBox()
        box.onRecord = onRecord
        let pin = options.pinDirectory.map { strdup($0) } ?? nil
        defer { free(pin) }
        var opts = tp_options(ringbuf_bytes: options.ringBufferBytes, wakeup_bytes: options.wakeupBytes,
                              floor_only: options.floorOnly ? 1 : 0, pin_dir: pin)
        var err = [CChar](repeating: 0, count: 1024)
        var h: OpaquePointer?
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        let rc = tp_open(&opts, { ctx, data, size in
            let box = Unmanaged<RecordBox>.fromOpaque(ctx!).takeUnretainedValue()
            box.onRecord(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }, ctx, &h, &err, err.count)
        guard rc == 0, let h else {
            throw ProbeError("loading BPF programs", rc, detail: String(cString: err))
        }
        handle = h
    }

    deinit { close() }

    public func close() {
        if let h = handle { tp_close(h) }
        handle = nil
    }

    public func setRecordHandler(_ fn: @escaping (UnsafeRawBufferPointer) -> Void) { box.onRecord = fn }

    private var h: OpaquePointer {
        guard let handle else { preconditionFailure("Probe used after close()") }
        return handle
    }

    /// Hooks attached, and syscalls this architecture lacks.
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
                          trackFull: v[Int(TE_STAT_TRACK_FULL.rawValue)])
    }

    /// Ring buffer drops per CPU.
    public func dropsPerCPU() throws -> [UInt64] {
        var v = [UInt64](repeating: 0, count: 1024)
        let n = tp_stat_per_cpu(h, UInt32(TE_STAT_DROPS.rawValue), &v, UInt32(v.count))
        if n < 0 { throw ProbeError("reading drops", n) }
        return Array(v[0..<Int(n)])
    }

    public func track(pid: Int32, session: SessionID, root: Int32) throws {
        let rc = tp_track(h, UInt32(bitPattern: pid), session.raw, UInt32(bitPattern: root))
        if rc < 0 { throw ProbeError("tracking pid \(pid)", rc) }
    }

    public func untrack(pid: Int32) throws {
        let rc = tp_untrack(h, UInt32(bitPattern: pid))
        if rc < 0 && rc != -ENOENT { throw ProbeError("untracking pid \(pid)", rc) }
    }

    public func session(of pid: Int32) -> SessionID? {
        var s: UInt64 = 0
        return tp_lookup(h, UInt32(bitPattern: pid), &s) == 0 ? SessionID(s) : nil
    }

    /// Every tracked pid and its session.
    public func tracked() throws -> [(pid: Int32, session: SessionID)] {
        try trackedMembers().map { ($0.pid, $0.session) }
    }

    /// Every tracked pid with its session and that session's root pid.
    public func trackedMembers() throws -> [(pid: Int32, session: SessionID, root: Int32)] {
        let max = 65536
        var pids = [UInt32](repeating: 0, count: max)
        var sessions = [UInt64](repeating: 0, count: max)
        var roots = [UInt32](repeating: 0, count: max)
        let n = tp_tracked(h, &pids, &sessions, &roots, UInt32(max))
        if n < 0 { throw ProbeError("listing tracked pids", n) }
        return (0..<Int(n)).map { (Int32(bitPattern: pids[$0]), SessionID(sessions[$0]), Int32(bitPattern: roots[$0])) }
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

    // MARK: watch policy

    public func clearWatch() throws { try check(tp_watch_clear(h), "clearing watch maps") }
    public func watch(comm: String) throws { try check(tp_watch_comm(h, comm), "watching comm \(comm)") }
    public func watch(uid: UInt32) throws { try check(tp_watch_uid(h, uid), "watching uid \(uid)") }
    public func watch(cgroupID: UInt64) throws { try check(tp_watch_cgroup(h, cgroupID), "watching cgroup \(cgroupID)") }
    /// Watches an executable file by identity (st_dev, st_ino), as the exec hook sees it.
    public func watch(executableDev dev: UInt64, inode: UInt64) throws {
        try check(tp_watch_inode(h, tp_kernel_dev(dev), inode), "watching inode \(inode)")
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
    static func ensureFilesystems() throws {
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
