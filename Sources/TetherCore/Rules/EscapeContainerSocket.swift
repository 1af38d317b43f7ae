/// Container runtime sockets: whoever talks to them can start a privileged container,
/// i.e. root on the host. Also their APIs over TCP (docker's 2375/2376 and 4243, the
/// kubelet's 10250, which execs into pods), on any address: refused in the kernel where the
/// rule acts (the egress guard's deny list, whatever the allow-list says).
struct EscapeContainerSocket: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.container_socket", severity: .critical, action: .kill, mitre: "T1611",
                                    kinds: [.connect, .sendto, .open], opens: .writes,
                                    title: "container runtime sockets and APIs (docker, containerd, podman, CRI-O, LXD, buildkit; TCP 2375/2376, 4243, 10250)")

    /// TCP ports of container runtime APIs, with what listens there.
    static let apiPorts: [(ports: ClosedRange<UInt16>, what: String)] = [
        (2375...2376, "docker API"), (4243...4243, "docker API"), (10250...10250, "kubelet API"),
    ]

    static let names: Set<Substring> = ["docker.sock", "containerd.sock", "podman.sock", "crio.sock", "cri-dockerd.sock",
                                        "buildkitd.sock", "dockershim.sock", "containerd-shim.sock"]
    static let sock = Array(".sock".utf8)
    static let socket = Array(".socket".utf8)
    static let lxd = Locations(.containerSockets, system: ["/var/snap/lxd/common/lxd/unix.socket", "/var/lib/lxd/unix.socket", "/var/lib/incus/unix.socket"])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        let path: String
        switch e.kind {
        case .connect, .sendto:
            if e.family == .inet || e.family == .inet6, e.kind == .connect, let port = e.port,
               let api = EscapeContainerSocket.apiPorts.first(where: { $0.ports.contains(port) }) {
                let addr = e.addr ?? "?"
                return RuleHit("container runtime API over TCP: \(api.what) at \(addr):\(port)\(e.outcomeNote)", subject: "tcp:\(addr):\(port)")
            }
            guard e.family == .unix, let a = e.addr, a.hasPrefix("/") else { return nil }
            path = a
        case .open:
            // Opening the socket file itself fails (ENXIO) but names the target; a write-open is an attempt.
            guard let p = e.openedPath, e.isWriteOpen, p.utf8.last == UInt8(ascii: "k") || p.utf8.last == UInt8(ascii: "t"),
                  PathBytes.hasSuffix(p, EscapeContainerSocket.sock) || PathBytes.hasSuffix(p, EscapeContainerSocket.socket) else { return nil }
            path = p
        default:
            return nil
        }
        guard EscapeContainerSocket.names.contains(PathBytes.basename(path)) || EscapeContainerSocket.lxd.contains(path, homes: nil) else { return nil }
        return RuleHit("container runtime socket: \(path)\(e.outcomeNote)", subject: path, path: path)
    }
}
