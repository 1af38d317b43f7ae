import Glibc
import TetherCore

/// Where the TCP deputies listen on this host (`Deputies.Listening`), from the kernel's own
/// tables: the listening sockets of /proc/net/tcp and tcp6 (by socket inode), held by a
/// process whose executable is a TCP deputy's. The executable is the file the kernel runs
/// for the process (/proc/PID/exe, by device and inode): a copy, a name or an argv[0] proves
/// nothing. A member of a session is no deputy (what it forks for a client is a member
/// too), so `isMember` leaves the sessions' own listeners out. A deputy the service manager
/// starts on demand is found through the manager's sockets (`SocketUnits`): its ports where
/// PID 1 listens, and its unix sockets' files for the kernel.
public enum Listeners {
    /// The most listening sockets read from each table; past them, the rest is not seen
    /// (sshd's port is judged anyway).
    static let socketLimit = 1 << 16
    /// The most processes of scripted deputies found (a quarter of the kernel's
    /// deputy_procs: a new plan's entries are written beside the last one's before those
    /// go, and the kernel adds the runners that start in between).
    static let processLimit = 512

    /// `scripted`: the policy's deputies an interpreter runs, found as processes first
    /// (`Listening.processes`), then as listeners like the others. `unix`: the deputies a
    /// unix socket reaches (the kernel's deputy_exes), looked for among the sockets the
    /// service manager listens on for the services it starts (`SocketUnits`), as the TCP
    /// ones are.
    public static func scan(deputies: [(name: String, paths: [String])],
                            unix: [(kind: UInt32, name: String, paths: [String])] = [],
                            scripted: [(kind: UInt32, name: String, interpreter: String, script: String)] = [],
                            isMember: (Int32) -> Bool = { _ in false }) -> Deputies.Listening {
        var out = Deputies.Listening(hostAddresses: hostAddresses())
        let exes = byFile(deputies.map { (kind: UInt32(0), name: $0.name, paths: $0.paths) }).mapValues(\.name)
        let pids = ProcFS.pids()
        out.processes = scriptedProcesses(scripted, pids: pids, isMember: isMember)
        let units: (activations: [SocketUnits.Activation], error: String?) = exes.isEmpty && unix.isEmpty ? ([], nil) : SocketUnits.asked.answer()
        out.activationError = units.error
        guard !exes.isEmpty || !out.processes.isEmpty || !units.activations.isEmpty else { return out }
        let listening = listeningSockets()
        for pid in listening.isEmpty ? [] : pids {
            var st = Glibc.stat()
            guard stat("/proc/\(pid)/exe", &st) == 0, let name = exes[FileID(st)] ?? out.processes[pid]?.name, !isMember(pid) else { continue }
            for port in ports(of: pid, listening) where out.ports[port] == nil {
                out.ports[port] = .init(name: name, pid: pid)
            }
        }
        guard !units.activations.isEmpty else { return out }
        let found = activated(units.activations, tcp: exes, unix: unix, scripted: scripted, managerPorts: Set(ports(of: 1, listening)))
        out.sockets = found.sockets
        for (port, name) in found.ports where out.ports[port] == nil {
            out.ports[port] = .init(name: name, pid: 1) // the manager listens; the deputy starts with the connection
        }
        return out
    }

    /// The ports of the TCP listening sockets `pid` holds.
    static func ports(of pid: Int32, _ listening: [UInt64: UInt16]) -> [UInt16] {
        guard !listening.isEmpty else { return [] }
        return (HostFiles.entries("/proc/\(pid)/fd") ?? []).compactMap { fd in
            ProcFS.link("/proc/\(pid)/fd/\(fd)").flatMap(socketInode).flatMap { listening[$0] }
        }
    }

    /// Which of the service manager's stream sockets start a deputy: a port (one the kernel
    /// shows the manager listening on, `managerPorts`) whose service runs a TCP deputy, and
    /// a unix socket file whose service runs a unix deputy (sshd is TCP's only). A deputy
    /// by its executable's file (device and inode), as for the deputies' own processes; a
    /// scripted one by its interpreter's file with an argument naming its script's file (an
    /// absolute path: the manager runs commands from /, or their WorkingDirectory, which
    /// is not read).
    static func activated(_ activations: [SocketUnits.Activation], tcp: [FileID: String],
                          unix: [(kind: UInt32, name: String, paths: [String])],
                          scripted: [(kind: UInt32, name: String, interpreter: String, script: String)] = [],
                          managerPorts: Set<UInt16>)
        -> (ports: [UInt16: String], sockets: [Deputies.Listening.Socket]) {
        let unixExes = byFile(unix)
        let scripts = byInterpreter(scripted)
        /// The deputy a command runs: by its executable, else by its interpreter and script.
        func deputy(_ c: SocketUnits.Command, _ exes: [FileID: (kind: UInt32, name: String)]) -> (kind: UInt32, name: String)? {
            guard let exe = FileID(regular: c.path) else { return nil }
            if let d = exes[exe] { return d }
            guard let candidates = scripts[exe] else { return nil }
            let named = Set(c.arguments.filter { $0.hasPrefix("/") }.compactMap { FileID(regular: $0) })
            return candidates.first { named.contains($0.script) }.map { ($0.kind, $0.name) }
        }
        let tcpExes = tcp.mapValues { (kind: UInt32(0), name: $0) }
        var ports: [UInt16: String] = [:]
        var sockets: [Deputies.Listening.Socket] = []
        for a in activations {
            if let port = SocketUnits.port(a.listen) {
                if managerPorts.contains(port), let d = a.commands.lazy.compactMap({ deputy($0, tcpExes) }).first { ports[port] = d.name }
                continue
            }
            var st = Glibc.stat()
            guard a.listen.hasPrefix("/"), let d = a.commands.lazy.compactMap({ deputy($0, unixExes) }).first,
                  lstat(a.listen, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK,
                  !sockets.contains(where: { $0.path == a.listen }) else { continue }
            sockets.append(.init(kind: d.kind, name: d.name, path: a.listen, dev: UInt64(st.st_dev), ino: UInt64(st.st_ino)))
        }
        return (ports, sockets)
    }

    /// The processes (no session's members) whose executable is a scripted deputy's
    /// interpreter, by the file the kernel runs, and that were started with its script: an
    /// argument that names the script's file (by device and inode, looked up from the
    /// process's own root or working directory). The arguments are the process's own
    /// claim, but no member can write them: a member's processes are members, and another
    /// process's memory is out of its reach (ptrace and process_vm_writev are findings of
    /// their own); a process that merely names the script is taken for the deputy, which
    /// refuses more, never less. Its start (/proc/PID/stat) lets the kernel tell a pid
    /// reused by another process apart.
    static func scriptedProcesses(_ scripted: [(kind: UInt32, name: String, interpreter: String, script: String)], pids: [Int32],
                                  isMember: (Int32) -> Bool) -> [Int32: Deputies.Listening.Process] {
        let byInterpreter = Self.byInterpreter(scripted)
        guard !byInterpreter.isEmpty, sysconf(Int32(_SC_CLK_TCK)) == Int(Probe.deputyStartHz) else { return [:] }
        var out: [Int32: Deputies.Listening.Process] = [:]
        for pid in pids {
            var st = Glibc.stat()
            guard stat("/proc/\(pid)/exe", &st) == 0, let candidates = byInterpreter[FileID(st)], !isMember(pid) else { continue }
            let args = ProcFS.argv(pid).dropFirst().filter { !$0.isEmpty && !$0.hasPrefix("-") }
            let named = Set(args.compactMap { FileID(regular: ($0.hasPrefix("/") ? "/proc/\(pid)/root" : "/proc/\(pid)/cwd/") + $0) })
            guard let d = candidates.first(where: { named.contains($0.script) }), let start = ProcFS.stat(pid)?.startTicks else { continue }
            out[pid] = .init(kind: d.kind, name: d.name, start: start)
            if out.count >= processLimit { break }
        }
        return out
    }

    /// Deputies by the files their executables' paths name (a path that is no regular
    /// file is left out).
    static func byFile(_ deputies: [(kind: UInt32, name: String, paths: [String])]) -> [FileID: (kind: UInt32, name: String)] {
        var out: [FileID: (kind: UInt32, name: String)] = [:]
        for d in deputies {
            for p in d.paths {
                if let id = FileID(regular: p) { out[id] = (d.kind, d.name) }
            }
        }
        return out
    }

    /// The policy's scripted deputies by their interpreter's file: each one's kind, name
    /// and script's file (one whose interpreter or script is no regular file is left out).
    static func byInterpreter(_ scripted: [(kind: UInt32, name: String, interpreter: String, script: String)])
        -> [FileID: [(kind: UInt32, name: String, script: FileID)]] {
        var out: [FileID: [(kind: UInt32, name: String, script: FileID)]] = [:]
        for d in scripted {
            guard let i = FileID(regular: d.interpreter), let s = FileID(regular: d.script) else { continue }
            out[i, default: []].append((d.kind, d.name, s))
        }
        return out
    }

    struct FileID: Hashable {
        let dev: UInt64, ino: UInt64
        init(_ st: Glibc.stat) { dev = UInt64(st.st_dev); ino = UInt64(st.st_ino) }
        /// The regular file at `path` (symlinks followed), or nil.
        init?(regular path: String) {
            var st = Glibc.stat()
            guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
            self.init(st)
        }
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
