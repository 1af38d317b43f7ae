import Glibc
import TetherCore

/// Reading processes from /proc: for processes that were running before tracking began.
/// Plain open/read/readlink (`HostFiles`), no Foundation: the pipeline asks on a live host for
/// every process it first sees mid-life.
public enum ProcFS {
    public struct Stat {
        public var pid: Int32
        public var ppid: Int32
        public var comm: String
        /// Start time in clock ticks after boot.
        public var startTicks: UInt64
    }

    /// The target of a symbolic link (/proc/PID/exe, cwd), or nil.
    static func link(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func stat(_ pid: Int32) -> Stat? {
        guard let b = HostFiles.read("/proc/\(pid)/stat", max: 4096),
              let open = b.firstIndex(of: UInt8(ascii: "(")), let close = b.lastIndex(of: UInt8(ascii: ")")), open < close else { return nil }
        let comm = String(decoding: b[(open + 1)..<close], as: UTF8.self)
        guard close + 2 < b.count else { return nil }
        let rest = b[(close + 2)...].split(separator: UInt8(ascii: " "))
        // rest[0] = state, rest[1] = ppid, ..., rest[19] = starttime
        guard rest.count > 19, let ppid = Int32(String(decoding: rest[rest.startIndex + 1], as: UTF8.self)),
              let start = UInt64(String(decoding: rest[rest.startIndex + 19], as: UTF8.self)) else { return nil }
        return Stat(pid: pid, ppid: ppid, comm: comm, startTicks: start)
    }

    public static func pids() -> [Int32] {
        (HostFiles.entries("/proc", limit: Int(Int32.max)) ?? []).compactMap { Int32($0) }.sorted()
    }

    public static func exe(_ pid: Int32) -> String? { link("/proc/\(pid)/exe") }

    public static func cwd(_ pid: Int32) -> String? { link("/proc/\(pid)/cwd") }

    public static func argv(_ pid: Int32) -> [String] {
        guard let d = HostFiles.read("/proc/\(pid)/cmdline", max: 64 << 10), !d.isEmpty else { return [] }
        var parts = d.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if parts.last == "" { parts.removeLast() }
        return parts
    }

    public static func uid(_ pid: Int32) -> UInt32? {
        guard let b = HostFiles.read("/proc/\(pid)/status", max: 64 << 10) else { return nil }
        for line in b.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("Uid:".utf8)) {
            let fields = line.split(whereSeparator: { $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: " ") })
            return fields.dropFirst().first.flatMap { UInt32(String(decoding: $0, as: UTF8.self)) }
        }
        return nil
    }

    /// A process table entry from /proc, for a process first seen mid-life.
    public static func info(_ pid: Int32, session: SessionID) -> ProcessRecord? {
        guard let st = stat(pid) else { return nil }
        return ProcessRecord(pid: pid, ppid: st.ppid, session: session, exe: exe(pid) ?? "", argv: argv(pid),
                           cwd: cwd(pid) ?? "", comm: st.comm, startTime: 0)
    }

    /// `root` and all its current descendants (by parent links), root first.
    public static func descendants(of root: Int32) -> [Int32] {
        var children: [Int32: [Int32]] = [:]
        for p in pids() {
            if let st = stat(p) { children[st.ppid, default: []].append(p) }
        }
        var out: [Int32] = []
        var queue = [root]
        var seen = Set<Int32>()
        while let p = queue.popLast() {
            guard seen.insert(p).inserted else { continue }
            out.append(p)
            queue.append(contentsOf: children[p] ?? [])
        }
        return out
    }
}
