/// Cloud instance metadata endpoints hand out the host's cloud credentials: always a
/// finding, whatever the allow-list says.
struct EscapeMetadata: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.metadata", severity: .critical, action: .kill, mitre: "T1552.005",
                                    kinds: [.connect, .sendto],
                                    title: "cloud metadata endpoints (169.254.169.254 and friends), always")

    static let endpoints: [IPAddress] = [
        "169.254.169.254", // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",   // AWS ECS task credentials
        "fd00:ec2::254",   // AWS IMDS over IPv6
        "100.100.100.200", // Alibaba Cloud
        // Not 169.254.169.253 (AWS) or 168.63.129.16 (Azure): they are also the VPC's DNS resolvers.
    ].compactMap(IPAddress.init)

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard e.family == .inet || e.family == .inet6, let a = e.addr, let ip = IPAddress(a),
              EscapeMetadata.endpoints.contains(ip) else { return nil }
        return RuleHit("cloud metadata endpoint contacted: \(ip):\(e.port ?? 0)\(e.outcomeNote)", subject: "\(ip)")
    }
}

/// Egress beyond the agent's network allow-list (loopback allowed unless the policy says no).
struct EscapeNetwork: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.network", severity: .medium, action: .stop, mitre: "T1041",
                                    kinds: [.connect, .sendto],
                                    title: "network egress outside the allow-list", fallback: true)

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard e.family == .inet || e.family == .inet6, let a = e.addr, let ip = IPAddress(a) else { return nil }
        let port = e.port ?? 0
        guard !ctx.roots.network.allows(ip, port: port) else { return nil }
        let how = e.kind == .connect ? "connection to" : "datagram to"
        let dest = ip.isIPv4 ? "\(ip):\(port)" : "[\(ip)]:\(port)"
        return RuleHit("network egress outside the allow-list: \(how) \(dest)\(e.outcomeNote)", subject: dest)
    }
}
