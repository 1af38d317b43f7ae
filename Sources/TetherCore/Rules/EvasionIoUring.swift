/// io_uring performs file and network I/O without the syscalls Tether watches. Its requests
/// that make or move a name, connect, or send a datagram to an address are read at
/// submission (the records of their syscalls, marked `ioUringOp`); the rest of what a ring
/// does is not seen.
struct EvasionIoUring: Rule {
    static let unseen = "its reads, writes and sends on a connected socket are invisible to syscall tracing (requests that make or move a name, connect, or send a datagram to an address are read at submission)"

    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "evasion.io_uring", severity: .medium, action: .alert, mitre: "T1562.006",
                                    kinds: [.ioUring],
                                    title: "io_uring use (I/O that bypasses syscall tracing)")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.result == -1 { // EPERM: refused (seccomp in a session Tether launched)
            return RuleHit("io_uring setup refused (EPERM)", subject: "io_uring", perProcess: true)
        }
        guard e.succeeded else { return nil } // a setup that failed otherwise does no I/O
        let entries = e.entries.map { " (\($0) entries)" } ?? ""
        return RuleHit("io_uring instance created\(entries): \(EvasionIoUring.unseen)", subject: "io_uring", perProcess: true)
    }
}
