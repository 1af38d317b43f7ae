import Glibc
import TetherCore

/// Where the TCP deputies listen on this host (`Deputies.Listening`), from the kernel's own
/// tables: the listening sockets of /proc/net/tcp and tcp6 (by socket inode), held by a
/// process whose executable is a TCP deputy's. The executable is the file the kernel runs
/// for the process (/proc/PID/exe, by device and inode): a copy, a name or an argv[0] proves
/// nothing. A member of a session is no deputy (what it forks for a client is a member
/// too), so `isMember` leaves the sessions' own listeners out.
public enum Listeners {
    /// The most listening sockets read from each table; past them, the rest is not seen
    /// (sshd's port is judged anyway).
    static let socketLimit = 1 << 16

    public static func scan(deputies: [(name: String, paths: [String])], isMember: (Int32) -> Bool = { _ in false }) -> Deputies.Listening {
        var out = Deputies.Listening(hostAddresses: hostAddresses())
        var exes: [FileID: String] = [:]
        for d in deputies {
            for p in d.paths {
                var st = Glibc.stat()
                if stat(p, &st) == 0, st.st_mode & S_IFMT == S_IFREG { exes[FileID(st)] = d.name }
            }
        }
        guard !exes.isEmpty else { return out }
        let listening = listeningSockets()
        guard !listening.isEmpty else { return out }
        for pid in ProcFS.pids() {
            var st = Glibc.stat()
            guard stat("/proc/\(pid)/exe", &st) == 0, let name = exes[FileID(st)], !isMember(pid) else { continue }
            for fd in HostFiles.entries("/proc/\(pid)/fd") ?? [] {
                guard let target = ProcFS.link("/proc/\(pid)/fd/\(fd)"), let inode = socketInode(target),
                      let port = listening[inode], out.ports[port] == nil else { continue }
                out.ports[port] = .init(name: name, pid: pid)
            }
        }
        return out
    }

    struct FileID: Hashable {
        let dev: UInt64, ino: UInt64
        init(_ st: Glibc.stat) { dev = UInt64(st.st_dev); ino = UInt64(st.st_ino) }
    }

    /// "socket:[123]" → 123.
    static func socketInode(_ link: String) -> UInt64? {
        guard link.hasPrefix("socket:["), link.hasSuffix("]") else { return nil }
        return UInt64(link.dropFirst(8).dropLast())
    }

    /// Socket inode → local port of every TCP socket in LISTEN state (st 0A).
    static func listeningSockets() -> [UInt64: UInt16] {
        var out: [UInt64: UInt16] = [:]
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let bytes = HostFiles.read(table, max: 64 << 20) else { continue }
            out.merge(parseListening(bytes), uniquingKeysWith: { a, _ in a })
        }
        return out
    }

    /// The LISTEN rows of a /proc/net/tcp or tcp6 table: "sl local rem st … uid timeout inode".
    static func parseListening(_ bytes: [UInt8]) -> [UInt64: UInt16] {
        var out: [UInt64: UInt16] = [:]
        for line in bytes.split(separator: UInt8(ascii: "\n")).dropFirst() {
            let f = line.split(separator: UInt8(ascii: " "))
            guard f.count > 9, f[f.startIndex + 3].elementsEqual("0A".utf8) else { continue }
            let local = f[f.startIndex + 1]
            guard let colon = local.lastIndex(of: UInt8(ascii: ":")),
                  let port = UInt16(String(decoding: local[(colon + 1)...], as: UTF8.self), radix: 16),
                  let inode = UInt64(String(decoding: f[f.startIndex + 9], as: UTF8.self)), inode != 0 else { continue }
            out[inode] = port
            if out.count >= socketLimit { break }
        }
        return out
    }

    /// The addresses of this host's interfaces, loopback aside.
    static func hostAddresses() -> Set<IPAddress> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var out = Set<IPAddress>()
        var cur: UnsafeMutablePointer<ifaddrs>? = first
        while let i = cur {
            defer { cur = i.pointee.ifa_next }
            guard let sa = i.pointee.ifa_addr else { continue }
            var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let family = Int32(sa.pointee.sa_family)
            let ok: Bool
            switch family {
            case AF_INET:
                ok = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { s in
                    var a = s.pointee.sin_addr
                    return inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count)) != nil
                }
            case AF_INET6:
                ok = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { s in
                    var a = s.pointee.sin6_addr
                    return inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count)) != nil
                }
            default:
                ok = false
            }
            guard ok, let ip = IPAddress(String(cString: buf)), !ip.isLoopback else { continue }
            out.insert(ip)
        }
        return out
    }
}
