import Glibc
import TetherCore

/// Reading processes from /proc: for processes that were running before tracking began.
/// Plain open/read/readlink, no Foundation: the pipeline asks on a live host for every
/// process it first sees mid-life, and Foundation's file APIs kept memory per call (RSS grew
/// by ~0.5 KB per session started and ended, measured in `make bench`'s memory section).
public enum ProcFS {
    public struct Stat {
        public var pid: Int32
        public var ppid: Int32
        public var comm: String
        /// Start time in clock ticks after boot.
        public var startTicks: UInt64
    }

    /// A whole small file (at most `max` bytes), or nil.
    static func read(_ path: String, max: Int = 64 << 10) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while out.count < max {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// The target of a symbolic link (/proc/PID/exe, cwd), or nil.
    static func link(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func stat(_ pid: Int32) -> Stat? {
        guard let b = read("/proc/\(pid)/stat", max: 4096),
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
        guard let d = opendir("/proc") else { return [] }
        defer { closedir(d) }
        var out: [Int32] = []
        while let ent = readdir(d) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw -> String in
                let b = raw.bindMemory(to: UInt8.self)
                return String(decoding: b.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let pid = Int32(name) { out.append(pid) }
        }
        return out.sorted()
    }

    public static func exe(_ pid: Int32) -> String? { link("/proc/\(pid)/exe") }

    public static func cwd(_ pid: Int32) -> String? { link("/proc/\(pid)/cwd") }

    public static func argv(_ pid: Int32) -> [String] {
        guard let d = read("/proc/\(pid)/cmdline"), !d.isEmpty else { return [] }
        var parts = d.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if parts.last == "" { parts.removeLast() }
        return parts
    }

    public static func uid(_ pid: Int32) -> UInt32? {
        guard let b = read("/proc/\(pid)/status") else { return nil }
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
