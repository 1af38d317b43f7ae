import Foundation
import TetherCore

/// Reading processes from /proc: for processes that were running before tracking began.
public enum ProcFS {
    public struct Stat {
        public var pid: Int32
        public var ppid: Int32
        public var comm: String
        /// Start time in clock ticks after boot.
        public var startTicks: UInt64
    }

    public static func stat(_ pid: Int32) -> Stat? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else { return nil }
        let comm = String(text[text.index(after: open)..<close])
        let rest = text[text.index(close, offsetBy: 2)...].split(separator: " ")
        // rest[0] = state, rest[1] = ppid, ..., rest[19] = starttime
        guard rest.count > 19, let ppid = Int32(rest[1]), let start = UInt64(rest[19]) else { return nil }
        return Stat(pid: pid, ppid: ppid, comm: comm, startTicks: start)
    }

    public static func pids() -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { Int32($0) }.sorted()
    }

    public static func exe(_ pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
    }

    public static func cwd(_ pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
    }

    public static func argv(_ pid: Int32) -> [String] {
        guard let d = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !d.isEmpty else { return [] }
        var parts = d.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if parts.last == "" { parts.removeLast() }
        return parts
    }

    public static func uid(_ pid: Int32) -> UInt32? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("Uid:") {
            return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
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
