import Foundation
import TetherCore

/// What a session left behind, as the host has it now: members still running (with the
/// sockets they listen on), files outside the workspace it created or changed that are
/// still there (size and SHA-256 of what is there now), and the persistence locations its
/// findings named.
public struct LeftBehind: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var pid: Int32
        public var exe: String
        public var argv: [String]
        public var listening: [String]
    }
    public struct FileState: Sendable, Equatable {
        public var path: String
        /// The session's last operation on it.
        public var op: String
        /// "file", "directory", "symlink", "other", or "gone".
        public var state: String
        public var size: UInt64?
        public var sha256: String?
        public var target: String?
    }
    public var members: [Member] = []
    public var files: [FileState] = []
    public var persistence: [String] = []

    static let listLimit = 1000

    /// `members`: the session's processes still alive, as the process table has them.
    public static func check(members: [ProcessRecord], touched: [(String, String)], persistence: [String]) -> LeftBehind {
        var out = LeftBehind()
        let sockets = members.isEmpty ? [:] : listeningSockets() // the host's socket tables, only when someone is left
        for m in members.prefix(listLimit) where kill(m.pid, 0) == 0 || errno == EPERM {
            out.members.append(Member(pid: m.pid, exe: m.exe, argv: m.argv, listening: socketInodes(m.pid).compactMap { sockets[$0] }.sorted()))
        }
        for (path, op) in touched.prefix(listLimit) { out.files.append(state(path, op: op)) }
        out.persistence = Array(persistence.prefix(listLimit))
        return out
    }

    /// A path as it is now (not following a symlink at the path itself).
    public static func state(_ path: String, op: String) -> FileState {
        var f = FileState(path: path, op: op, state: "gone")
        var st = stat()
        guard lstat(path, &st) == 0 else { return f }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            f.state = "file"
            f.size = UInt64(st.st_size)
            if case .success(let d) = Digest.file(path) { f.sha256 = d.sha256 + (d.complete ? "" : " (first 256 MiB)") }
        case S_IFDIR: f.state = "directory"
        case S_IFLNK:
            f.state = "symlink"
            f.target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path))
        default: f.state = "other"
        }
        return f
    }

    func write(_ w: inout JSONObjectWriter) {
        w.raw("members", "[" + members.map { m -> String in
            var o = JSONObjectWriter(capacity: 128)
            o.int("pid", Int64(m.pid)); o.string("exe", m.exe); o.strings("argv", m.argv); o.strings("listening", m.listening)
            return o.finish()
        }.joined(separator: ",") + "]")
        w.raw("files", "[" + files.map { f -> String in
            var o = JSONObjectWriter(capacity: 128)
            o.string("path", f.path); o.string("op", f.op); o.string("state", f.state)
            if let s = f.size { o.uint("size", s) }
            o.optString("sha256", f.sha256); o.optString("target", f.target)
            return o.finish()
        }.joined(separator: ",") + "]")
        w.strings("persistence", persistence)
    }

    /// Socket inode -> "tcp 0.0.0.0:8080" for every listening TCP socket, bound UDP socket
    /// and listening unix socket on the host (the kernel's tables in /proc/net).
    static func listeningSockets() -> [UInt64: String] {
        var out: [UInt64: String] = [:]
        for (table, proto, listenState) in [("tcp", "tcp", "0A"), ("tcp6", "tcp6", "0A"), ("udp", "udp", "07"), ("udp6", "udp6", "07")] {
            guard let text = HostFiles.read("/proc/net/" + table, max: 16 << 20).map({ String(decoding: $0, as: UTF8.self) }) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count > 9, f[3] == listenState, let inode = UInt64(f[9]), inode != 0 else { continue }
                out[inode] = proto + " " + address(String(f[1]))
            }
        }
        if let text = HostFiles.read("/proc/net/unix", max: 16 << 20).map({ String(decoding: $0, as: UTF8.self) }) {
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                // Num RefCount Protocol Flags Type St Inode Path; flags 00010000: listening
                guard f.count > 6, let flags = UInt32(f[3], radix: 16), flags & 0x10000 != 0, let inode = UInt64(f[6]) else { continue }
                out[inode] = "unix " + (f.count > 7 ? String(f[7]) : "(unnamed)")
            }
        }
        return out
    }

    /// "0100007F:1F90" -> "127.0.0.1:8080"; IPv6 as the kernel's hex words.
    static func address(_ hex: String) -> String {
        let parts = hex.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1], radix: 16) else { return hex }
        let a = parts[0]
        if a.count == 8, let v = UInt32(a, radix: 16) {
            return "\(v & 0xff).\((v >> 8) & 0xff).\((v >> 16) & 0xff).\(v >> 24):\(port)"
        }
        return "[\(a)]:\(port)"
    }

    /// The socket inodes among a process's open descriptors.
    static func socketInodes(_ pid: Int32) -> [UInt64] {
        guard let fds = HostFiles.entries("/proc/\(pid)/fd", limit: 4096) else { return [] }
        return fds.compactMap { fd in
            guard let t = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
                  t.hasPrefix("socket:["), t.hasSuffix("]") else { return nil }
            return UInt64(t.dropFirst(8).dropLast())
        }
    }
}
