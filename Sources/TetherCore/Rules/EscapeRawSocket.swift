/// Raw and packet sockets sniff or forge traffic. The kernel reports socket() only for
/// raw and packet sockets (the `socket` event); the well-known capture and scanning tools
/// are also named by their exec, which says what was run.
struct EscapeRawSocket: Rule, ExecGated {
    static let execNames: [String] = EscapeRawSocket.tools.map(String.init)
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.raw_socket", severity: .high, action: .stop, mitre: "T1040",
                                    kinds: [.socket, .exec],
                                    title: "raw and packet sockets; packet capture and forging tools")

    static let tools: Set<Substring> = ["tcpdump", "tshark", "dumpcap", "wireshark", "nmap", "masscan", "zmap", "hping3",
                                        "arping", "arpspoof", "ettercap", "bettercap", "ngrep", "tcpreplay", "netsniff-ng", "p0f"]

    static let AF_PACKET: Int32 = 17, SOCK_RAW: Int32 = 3, AF_INET: Int32 = 2, AF_INET6: Int32 = 10

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .socket {
            let domain = e.socketDomain ?? -1
            let type = (e.socketType ?? -1) & 0xf // without SOCK_NONBLOCK/SOCK_CLOEXEC
            guard domain == EscapeRawSocket.AF_PACKET || type == EscapeRawSocket.SOCK_RAW else { return nil }
            let what = domain == EscapeRawSocket.AF_PACKET ? "packet socket" : domain == EscapeRawSocket.AF_INET6 ? "raw IPv6 socket" : "raw socket"
            return RuleHit("\(what) opened (domain \(domain), type \(type), protocol \(e.socketProtocol ?? 0))\(e.outcomeNote)",
                           subject: "socket:\(domain):\(type)", perProcess: true)
        }
        guard let name = e.execName, EscapeRawSocket.tools.contains(name) else { return nil }
        if name == "nmap", !Exec.hasFlag(e, ["-sS", "-sU", "-O", "-sA", "-sX", "-sN", "-sF", "--privileged"]) { return nil }
        return RuleHit("raw/packet socket tool run: \(Describe.command(e))\(e.outcomeNote)", subject: "exec:\(name)", perProcess: true)
    }
}
