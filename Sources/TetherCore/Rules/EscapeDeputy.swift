import Foundation

/// Servers that run commands for whoever connects to them, and were running before the
/// session: a member that reaches one leaves the session through it (a tmux server opens a
/// window running the member's command, an editor's server runs it as the editor's user).
/// The kernel judges the listener of every unix stream connect by the executable it runs
/// (`deputy_exes`, by inode: a copy or a name proves nothing) and by whether it is a member;
/// the rule reads that verdict, never the socket's path. What the deputy forks while the
/// member lives joins the session (fork records name the deputy). In enforce mode the
/// kernel's deputy guard ends the member at the connect, before it has sent a byte.
/// Over TCP the kernel cannot name a listener at the connect: the front end finds the
/// listening sockets that TCP deputies (sshd, the policy's deputies) hold, by the
/// executable the kernel runs for the process holding each (`Listening`), and a connect to
/// one of their ports on an address of this host is the finding, refused by the egress
/// guard's deny list where the rule acts. sshd's port 22 is one even when no sshd is seen.
public enum Deputies {
    /// Known servers: their kind (the `deputy_exes` value; 0 is none), name and where their
    /// executables are installed. A path that does not exist on a host is skipped.
    public static let servers: [(kind: UInt32, name: String, paths: [String])] = [
        (1, "tmux", ["/usr/bin/tmux", "/usr/local/bin/tmux"]),
        (2, "screen", ["/usr/bin/screen", "/usr/local/bin/screen"]),
        (3, "zellij", ["/usr/bin/zellij", "/usr/local/bin/zellij"]),
        (4, "dtach", ["/usr/bin/dtach"]),
        (5, "abduco", ["/usr/bin/abduco"]),
        (6, "emacs server", ["/usr/bin/emacs", "/usr/local/bin/emacs"]),
        (7, "neovim server", ["/usr/bin/nvim", "/usr/local/bin/nvim"]),
        (8, "kitty remote control", ["/usr/bin/kitty"]),
    ]

    /// The policy's own deputies (`Policy.deputies`) take the kinds after the built-in ones,
    /// in the policy's order, named by their script's or executable's file name.
    public static let policyLimit = 32
    static let firstPolicyKind: UInt32 = 64

    /// The policy's deputies with their kinds.
    static func kinds(_ extra: [Deputy]) -> [(kind: UInt32, deputy: Deputy)] {
        extra.prefix(policyLimit).enumerated().map { (firstPolicyKind + UInt32($0.offset), $0.element) }
    }

    /// The deputies the kernel knows by their executable: the built-in servers and the
    /// policy's, those an interpreter runs aside (their executable is every script's).
    public static func all(policy extra: [Deputy]) -> [(kind: UInt32, name: String, paths: [String])] {
        servers + kinds(extra).filter { $0.deputy.script == nil }.map { ($0.kind, $0.deputy.name, [$0.deputy.executable]) }
    }

    /// The policy's deputies an interpreter runs: known by their processes
    /// (`Listening.processes`), found on the host by the interpreter and the script.
    public static func scripted(policy extra: [Deputy]) -> [(kind: UInt32, name: String, interpreter: String, script: String)] {
        kinds(extra).compactMap { k in k.deputy.script.map { (k.kind, k.deputy.name, k.deputy.executable, $0) } }
    }

    /// What the front end last told: the policy's deputies' names by kind, as the last guard
    /// plan installed them (the decoder names a kind the kernel reported), and where the TCP
    /// deputies listen (`setListening`; the rule and the next guard plan read it). Written
    /// from the front end's threads, read from the classifier's.
    private static let registry = Registry()
    final class Registry: @unchecked Sendable {
        let lock = NSLock()
        var names: [UInt32: String] = [:]
        var listening = Listening()
    }

    /// Makes the policy's deputies the ones `name` knows.
    public static func register(policy extra: [Deputy]) {
        let named = Dictionary(uniqueKeysWithValues: kinds(extra).map { ($0.kind, $0.deputy.name) })
        registry.lock.lock()
        registry.names = named
        registry.lock.unlock()
    }

    /// The name of a kind the kernel reported.
    public static func name(_ kind: UInt32) -> String {
        if let s = servers.first(where: { $0.kind == kind }) { return s.name }
        registry.lock.lock()
        defer { registry.lock.unlock() }
        return registry.names[kind] ?? "deputy kind \(kind)"
    }

    /// sshd's port: a login on this host as whoever holds a key, outside the session.
    public static let sshPort: UInt16 = 22
    /// The addresses that reach this host itself whatever its interfaces, refused on the
    /// TCP deputies' ports where the rule acts (with `Listening.hostAddresses`).
    public static let loopback = ["127.0.0.0/8", "0.0.0.0/32", "::1/128", "::/128"]

    /// Servers that run commands for whoever reaches their TCP port (a login, for sshd);
    /// the policy's deputies may listen on TCP too. Not in `servers`: sshd's per-login
    /// processes hold unix sockets a client should reach (an agent forwarding socket).
    public static let tcpServers: [(name: String, paths: [String])] = [
        ("sshd", ["/usr/sbin/sshd", "/usr/local/sbin/sshd"]),
    ]

    /// The kind the TCP-only servers (sshd) are registered with in the kernel, where they
    /// are flagged TCP only: a unix socket of theirs is no deputy's.
    public static let tcpOnlyKind: UInt32 = 32

    /// The TCP deputies known by their executable: the built-in ones and the policy's (the
    /// policy's scripted ones listen through `Listening.processes`).
    public static func tcp(policy extra: [Deputy]) -> [(name: String, paths: [String])] {
        tcpServers + all(policy: extra).filter { $0.kind >= firstPolicyKind }.map { ($0.name, $0.paths) }
    }

    /// Where the TCP deputies listen on this host, this host's own addresses, and the
    /// processes that run a deputy's script: what a front end found last (`setListening`),
    /// what the rule and the next guard plan use.
    public struct Listening: Sendable, Equatable {
        public struct Listener: Sendable, Equatable {
            public let name: String
            public let pid: Int32
            public init(name: String, pid: Int32) { self.name = name; self.pid = pid }
        }
        /// A process that runs one of the policy's scripted deputies.
        public struct Process: Sendable, Equatable {
            public let kind: UInt32
            public let name: String
            /// When it started, in clock ticks since boot (tells a reused pid apart).
            public let start: UInt64
            public init(kind: UInt32, name: String, start: UInt64) { self.kind = kind; self.name = name; self.start = start }
        }
        /// A unix socket the service manager listens on for a deputy (socket activation):
        /// the kernel knows it by its file's inode.
        public struct Socket: Sendable, Equatable {
            public let kind: UInt32
            public let name: String
            public let path: String
            public let dev: UInt64, ino: UInt64
            public init(kind: UInt32, name: String, path: String, dev: UInt64, ino: UInt64) {
                self.kind = kind; self.name = name; self.path = path; self.dev = dev; self.ino = ino
            }
        }
        /// Port → the deputy listening on it (on any address of this host), or the service
        /// manager (its pid) listening there for it.
        public var ports: [UInt16: Listener]
        /// The addresses of this host's interfaces (loopback aside).
        public var hostAddresses: Set<IPAddress>
        /// Pid → the scripted deputy it runs.
        public var processes: [Int32: Process]
        /// The unix sockets the service manager listens on for a deputy.
        public var sockets: [Socket]
        /// Why the service manager's sockets could not be read, when they could not.
        public var activationError: String?
        public init(ports: [UInt16: Listener] = [:], hostAddresses: Set<IPAddress> = [], processes: [Int32: Process] = [:],
                    sockets: [Socket] = [], activationError: String? = nil) {
            self.ports = ports
            self.hostAddresses = hostAddresses
            self.processes = processes
            self.sockets = sockets
            self.activationError = activationError
        }

        /// The deputy a connect to `ip`:`port` reaches: one of `ports` (sshd's always) on an
        /// address that is this host.
        public func reached(_ ip: IPAddress, port: UInt16) -> Listener? {
            guard ip.isLoopback || hostAddresses.contains(ip) else { return nil }
            return ports[port] ?? (port == Deputies.sshPort ? Listener(name: "sshd", pid: 0) : nil)
        }

        /// The ports the kernel refuses on this host's addresses: sshd's, then the others
        /// found, in order, at most `limit`; and the ones past it (judged by the rule only).
        public func deniedPorts(limit: Int) -> (ports: [UInt16], over: [UInt16]) {
            let all = [Deputies.sshPort] + ports.keys.filter { $0 != Deputies.sshPort }.sorted()
            return (Array(all.prefix(limit)), Array(all.dropFirst(limit)))
        }
    }

    /// The deputy a connect to `ip`:`port` reaches, by what was found last (`Listening.reached`),
    /// looked up under the lock: the classifier asks this of every TCP connect, and a copy of
    /// the whole would cost it more.
    static func reached(_ ip: IPAddress, port: UInt16) -> Listening.Listener? {
        registry.lock.lock()
        defer { registry.lock.unlock() }
        return registry.listening.reached(ip, port: port)
    }

    /// What the TCP deputies' listeners were found to be last.
    public static func currentListening() -> Listening {
        registry.lock.lock()
        defer { registry.lock.unlock() }
        return registry.listening
    }

    /// Replaces them; true if they changed (a new guard plan is due).
    @discardableResult
    public static func setListening(_ l: Listening) -> Bool {
        registry.lock.lock()
        defer { registry.lock.unlock() }
        guard registry.listening != l else { return false }
        registry.listening = l
        return true
    }
}

struct EscapeDeputy: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.deputy", severity: .critical, action: .kill, mitre: "T1559",
                                    kinds: [.connect],
                                    title: "work handed to a server outside the session that runs it (tmux, screen, an editor's server; sshd on this host)")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if let r = e.reached, let kind = r.deputy, !r.member {
            let who = r.uid == 0 ? ", running as root" : ", running as uid \(r.uid)"
            if r.activated {
                return RuleHit("reached \(kind) through the socket the service manager (pid \(r.pid)\(who)) listens on for it at \(e.addr ?? "?"), starting it outside the session: a server that runs commands for its clients\(e.outcomeNote)",
                               subject: "deputy:\(e.addr ?? String(r.pid))")
            }
            return RuleHit("reached \(kind) (pid \(r.pid)\(who)), a server outside the session that runs commands for its clients, at \(e.addr ?? "?")\(e.outcomeNote)",
                           subject: "deputy:\(r.pid)")
        }
        guard e.kind == .connect, e.family == .inet || e.family == .inet6, let port = e.port, let a = e.addr else { return nil }
        let shown = a.contains(":") ? "[\(a)]" : a
        if let ip = IPAddress(a), let l = Deputies.reached(ip, port: port) {
            let who = l.pid > 0 ? ", pid \(l.pid) listening" : ""
            let what = l.name == "sshd" ? "a login outside the session" : "a server outside the session that runs commands for its clients"
            return RuleHit("reached \(l.name)'s port on this host (\(shown):\(port)\(who)): \(what)\(e.outcomeNote)",
                           subject: "tcp:\(a):\(port)")
        }
        // a listener the kernel saw a deputy open since the socket tables were last read
        if e.guardActions.contains(.deputy) {
            return RuleHit("reached a deputy's port on this host (\(shown):\(port)), which the kernel saw a server that runs commands for its clients start listening on: a server outside the session\(e.outcomeNote)",
                           subject: "tcp:\(a):\(port)")
        }
        return nil
    }
}
