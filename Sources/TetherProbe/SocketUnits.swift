import CTetherProbe
import Dispatch
import Glibc
import TetherCore

/// What the system's service manager listens on for the services it starts on demand
/// (systemd's socket activation): a `.socket` unit's listening sockets are held by PID 1,
/// and the service that answers them runs only once a connection arrives. A deputy started
/// that way holds no listening socket of its own until then (and with `Accept=yes` never:
/// each connection gets an instance of its own), so `Listeners` asks the manager which
/// socket starts which executable. The answer comes from PID 1 over its own socket
/// (`systemctl show`), never from a unit file a session could write beside it; a port counts
/// only where the kernel's tables show PID 1 listening on it, and a socket file is matched
/// by its inode. Only the system manager is asked: a user manager's sockets are not.
enum SocketUnits {
    /// One stream socket a socket unit listens on, and the commands of the service it
    /// starts there (`ExecStart`, as the manager resolved it).
    struct Activation: Equatable {
        /// "127.0.0.1:7411", "[::]:22", or a unix socket's path.
        let listen: String
        let commands: [Command]
    }

    /// A command a service runs: the executable's path, and its arguments after argv[0]
    /// (split at spaces as systemctl shows them).
    struct Command: Equatable {
        let path: String
        let arguments: [String]
        init(_ path: String, _ arguments: [String] = []) { self.path = path; self.arguments = arguments }
    }

    /// How long one question to the manager may take: past it, systemctl is killed and the
    /// failure is said (`Listening.activationError`); the next look asks again.
    static let timeoutMilliseconds: Int32 = 3000
    /// The most socket units read (a host has a few dozen).
    static let unitLimit = 512

    typealias Answer = (activations: [Activation], error: String?)

    /// What a look uses: the manager's last answer, a new one asked for in the background
    /// (the front end's loop never waits on the manager: a hung PID 1 would hold its
    /// findings back). Only the first look waits, so a session starting with Tether meets
    /// the deputies found at start.
    static let asked = Asked(query)

    final class Asked: @unchecked Sendable {
        private let query: () -> Answer
        private let lock = DispatchQueue(label: "tether.socket-units")
        private var last: Answer?
        private var asking = false

        init(_ query: @escaping () -> Answer) { self.query = query }

        func answer() -> Answer {
            let (known, ask) = lock.sync { () -> (Answer?, Bool) in
                guard let last else { return (nil, false) }
                defer { asking = true }
                return (last, !asking)
            }
            guard let known else {
                let now = query()
                lock.sync { last = now }
                return now
            }
            if ask {
                DispatchQueue.global().async { [self] in
                    let now = query()
                    lock.sync { last = now; asking = false }
                }
            }
            return known
        }
    }

    /// The activations of the system manager's stream sockets; [] where PID 1 is no systemd
    /// (no /run/systemd/system) or the manager did not answer (then `error` says why).
    static func query() -> Answer {
        guard access("/run/systemd/system", F_OK) == 0 else { return ([], nil) }
        guard let systemctl = (["/usr/bin/systemctl", "/bin/systemctl"] as [String]).first(where: { access($0, X_OK) == 0 }) else {
            return ([], "systemd runs this host but systemctl is missing: socket-activated deputies are not found")
        }
        let sockets: [SocketUnit]
        switch ChildProcess.output(systemctl, ["show", "--no-pager", "--property=Id,Listen,Triggers,Accept", "--", "*.socket"],
                                   timeoutMilliseconds: timeoutMilliseconds) {
        case .failure(let why): return ([], "asking systemd for its socket units: \(why)")
        case .success(let out): sockets = parseSockets(out)
        }
        // the service each socket starts: the one it triggers, or with Accept=yes an instance
        // of its template (any instance name: the template's ExecStart is the instances')
        var services: [String: [SocketUnit]] = [:]
        for s in sockets {
            for service in s.services { services[service, default: []].append(s) }
        }
        guard !services.isEmpty else { return ([], nil) }
        let names = services.keys.sorted()
        let exec: [String: [Command]]
        switch ChildProcess.output(systemctl, ["show", "--no-pager", "--property=Id,ExecStart", "--"] + names,
                                   timeoutMilliseconds: timeoutMilliseconds) {
        case .failure(let why): return ([], "asking systemd what its socket units start: \(why)")
        case .success(let out): exec = parseExecStart(out)
        }
        var out: [Activation] = []
        for name in names {
            guard let commands = exec[name], !commands.isEmpty else { continue }
            for s in services[name] ?? [] {
                out += s.listens.map { Activation(listen: $0, commands: commands) }
            }
        }
        return (out, nil)
    }

    struct SocketUnit: Equatable {
        var id = ""
        var accept = false
        var triggers: [String] = []
        /// The stream sockets it listens on (datagram, FIFO, netlink and the like start no
        /// conversation and are left out).
        var listens: [String] = []

        /// The services it starts: with Accept=yes an instance of "prefix@.service" (the
        /// prefix: the name before '@' or ".socket"), else what it triggers.
        var services: [String] {
            guard accept else { return triggers.filter { $0.hasSuffix(".service") } }
            let stem = id.hasSuffix(".socket") ? String(id.dropLast(7)) : id
            let prefix = stem.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? stem
            return prefix.isEmpty ? [] : [prefix + "@tether-probe.service"]
        }
    }

    /// `systemctl show --property=Id,Listen,Triggers,Accept` of many units: blocks of
    /// KEY=VALUE lines, a blank line between units; `Listen=ADDRESS (Type)` once per socket.
    static func parseSockets(_ text: String) -> [SocketUnit] {
        var out: [SocketUnit] = []
        for block in text.split(separator: "\n\n", omittingEmptySubsequences: true) {
            var u = SocketUnit()
            for line in block.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                let key = line[..<eq], value = line[line.index(after: eq)...]
                switch key {
                case "Id": u.id = String(value)
                case "Accept": u.accept = value == "yes"
                case "Triggers": u.triggers = value.split(separator: " ").map(String.init)
                case "Listen":
                    guard value.hasSuffix(" (Stream)") || value.hasSuffix(" (SequentialPacket)"),
                          let space = value.lastIndex(of: " ") else { continue }
                    u.listens.append(String(value[..<space]))
                default: continue
                }
            }
            guard !u.id.isEmpty, !u.listens.isEmpty else { continue }
            out.append(u)
            if out.count >= unitLimit { break }
        }
        return out
    }

    /// `systemctl show --property=Id,ExecStart`: unit → each of its commands' `path=` and
    /// `argv[]=` ("ExecStart={ path=/usr/sbin/sshd ; argv[]=/usr/sbin/sshd -i ; … }", one
    /// brace per command).
    static func parseExecStart(_ text: String) -> [String: [Command]] {
        var out: [String: [Command]] = [:]
        for block in text.split(separator: "\n\n", omittingEmptySubsequences: true) {
            var id = "", commands: [Command] = []
            for line in block.split(separator: "\n") {
                if line.hasPrefix("Id=") { id = String(line.dropFirst(3)) }
                guard line.hasPrefix("ExecStart=") else { continue }
                for brace in line.dropFirst(10).split(separator: "{", omittingEmptySubsequences: false).dropFirst() {
                    var path = "", argv: [String] = []
                    for field in brace.split(separator: ";") {
                        let f = field.drop { $0 == " " }
                        if f.hasPrefix("path=") { path = String(f.dropFirst(5).prefix { $0 != " " }) }
                        if f.hasPrefix("argv[]=") { argv = f.dropFirst(7).split(separator: " ").map(String.init) }
                    }
                    if path.hasPrefix("/") { commands.append(Command(path, Array(argv.dropFirst()))) }
                }
            }
            if !id.isEmpty { out[id] = commands }
        }
        return out
    }

    /// The port of "127.0.0.1:7411" or "[::]:22"; nil for a unix path.
    static func port(_ listen: String) -> UInt16? {
        guard !listen.hasPrefix("/"), !listen.hasPrefix("@") else { return nil }
        return UInt16(listen.split(separator: ":").last ?? Substring(listen))
    }
}

/// A program Tether runs for an answer (only ever a system tool by absolute path, no
/// shell): its standard output, within a deadline after which it is killed.
enum ChildProcess {
    static let outputLimit = 4 << 20

    static func output(_ path: String, _ args: [String], timeoutMilliseconds: Int32) -> Result<String, Failure> {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return .failure(Failure("pipe: \(String(cString: strerror(errno)))")) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env: [UnsafeMutablePointer<CChar>?] = (["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"] as [String]).map { strdup($0) } + [nil]
        defer { env.forEach { free($0) } }
        var pid: Int32 = 0
        // the child gets the pipe as its stdout and none of Tether's other descriptors
        let rc = tp_spawn_answer(path, argv, env, fds[1], &pid)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            return .failure(Failure("running \(path): \(String(cString: strerror(-rc)))"))
        }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        var timedOut = false
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Int64(deadline.tv_sec) * 1000 + Int64(deadline.tv_nsec) / 1_000_000 + Int64(timeoutMilliseconds)
        while true {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - (Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000)
            var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&p, 1, Int32(left)) > 0 else {
                if left <= 0 || errno != EINTR { timedOut = true; break }
                continue
            }
            let n = read(fds[0], &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            out += buf[0..<n]
            if out.count > outputLimit { timedOut = true; break }
        }
        close(fds[0])
        if timedOut { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if timedOut {
            return .failure(Failure(out.count > outputLimit ? "\(path) wrote more than \(outputLimit) bytes" : "\(path) did not answer within \(timeoutMilliseconds) ms"))
        }
        let exited = status & 0x7f == 0, code = (status >> 8) & 0xff
        guard exited, code == 0 else {
            return .failure(Failure(exited ? "\(path) exited with status \(code)" : "\(path) was killed by signal \(status & 0x7f)"))
        }
        return .success(String(decoding: out, as: UTF8.self))
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }
}
