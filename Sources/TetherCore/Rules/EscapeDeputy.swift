import Foundation

/// Servers that run commands for whoever connects to them, and were running before the
/// session: a member that reaches one leaves the session through it (a tmux server opens a
/// window running the member's command, an editor's server runs it as the editor's user).
/// The kernel judges the listener of every unix stream connect by the executable it runs
/// (`deputy_exes`, by inode: a copy or a name proves nothing) and by whether it is a member;
/// the rule reads that verdict, never the socket's path. What the deputy forks while the
/// member lives joins the session (fork records name the deputy). In enforce mode the
/// kernel's deputy guard ends the member at the connect, before it has sent a byte.
/// Also sshd's port on this host's loopback (TCP: the kernel cannot name its listener),
/// refused by the egress guard's deny list where the rule acts.
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
    /// in the policy's order, named by their executable's file name.
    public static let policyLimit = 32
    static let firstPolicyKind: UInt32 = 64

    /// The built-in servers and the policy's.
    public static func all(policy extra: [String]) -> [(kind: UInt32, name: String, paths: [String])] {
        servers + extra.prefix(policyLimit).enumerated().map { (firstPolicyKind + UInt32($0.offset), String(PathBytes.basename($0.element)), [$0.element]) }
    }

    /// Names of the policy's deputies by kind, as the last guard plan installed them (the
    /// decoder names a kind the kernel reported; a plan from another thread may replace it).
    private static let registry = Registry()
    final class Registry: @unchecked Sendable {
        let lock = NSLock()
        var names: [UInt32: String] = [:]
    }

    /// Makes the policy's deputies the ones `name` knows.
    public static func register(policy extra: [String]) {
        let named = Dictionary(all(policy: extra).filter { $0.kind >= firstPolicyKind }.map { ($0.kind, $0.name) }, uniquingKeysWith: { a, _ in a })
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
    /// The addresses that reach this host itself, refused on sshd's port where the rule acts.
    public static let loopback = ["127.0.0.0/8", "0.0.0.0/32", "::1/128", "::/128"]
}

struct EscapeDeputy: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.deputy", severity: .critical, action: .kill, mitre: "T1559",
                                    kinds: [.connect],
                                    title: "work handed to a server outside the session that runs it (tmux, screen, an editor's server; sshd on loopback)")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if let r = e.reached, let kind = r.deputy, !r.member {
            let who = r.uid == 0 ? ", running as root" : ", running as uid \(r.uid)"
            return RuleHit("reached \(kind) (pid \(r.pid)\(who)), a server outside the session that runs commands for its clients, at \(e.addr ?? "?")\(e.outcomeNote)",
                           subject: "deputy:\(r.pid)")
        }
        if e.kind == .connect, e.family == .inet || e.family == .inet6, e.port == Deputies.sshPort, let a = e.addr,
           let ip = IPAddress(a), ip.isLoopback {
            return RuleHit("reached sshd's port on this host (\(ip.isIPv4 ? a : "[\(a)]"):\(Deputies.sshPort)): a login outside the session\(e.outcomeNote)",
                           subject: "tcp:\(a):\(Deputies.sshPort)")
        }
        return nil
    }
}
