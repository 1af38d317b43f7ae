import Foundation

/// Where a syslog sink sends: `unix:/dev/log`, `udp://HOST:PORT`, `tcp://HOST:PORT`,
/// `tls://HOST:PORT` (RFC 5425; IPv6 as `[::1]`). The only file in TetherExport besides
/// Stream.swift that touches socket syscalls and errno.
public enum SyslogDestination: Sendable, Equatable, CustomStringConvertible {
    case unix(String)
    case udp(host: String, port: UInt16)
    case tcp(host: String, port: UInt16)
    case tls(host: String, port: UInt16, TLSOptions)

    public init(parsing text: String) throws {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/") else { throw ExportError("syslog destination \(text): unix: needs an absolute socket path, e.g. unix:/dev/log") }
            self = .unix(path)
            return
        }
        guard let scheme = ["udp", "tcp", "tls"].first(where: { text.hasPrefix($0 + "://") }) else {
            throw ExportError("syslog destination \(text): expected unix:/PATH, udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT")
        }
        // RFC 5426 (UDP) 514; RFC 5425 (TLS) 6514, and plain TCP receivers mostly listen there too
        let (host, port) = try HostPort.parse(String(text.dropFirst(6)), defaultPort: scheme == "udp" ? 514 : 6514, what: "syslog destination \(text)")
        switch scheme {
        case "udp": self = .udp(host: host, port: port)
        case "tcp": self = .tcp(host: host, port: port)
        default: self = .tls(host: host, port: port, TLSOptions())
        }
    }

    public var description: String {
        func h(_ s: String) -> String { s.contains(":") ? "[\(s)]" : s }
        switch self {
        case .unix(let p): return "unix:\(p)"
        case .udp(let host, let port): return "udp://\(h(host)):\(port)"
        case .tcp(let host, let port): return "tcp://\(h(host)):\(port)"
        case .tls(let host, let port, _): return "tls://\(h(host)):\(port)"
        }
    }

    /// `DEST[,format=rfc3164|rfc5424]`, and for `tls://` `[,ca=FILE][,cert=FILE,key=FILE][,name=PEER]`:
    /// a destination with its own message format and TLS settings.
    public static func parse(withFormat text: String) throws -> (SyslogDestination, SyslogFormat.Style?) {
        let (base, options) = try SinkOptions.split(text, what: "syslog destination")
        var d = try SyslogDestination(parsing: base)
        var style: SyslogFormat.Style?
        var tls = TLSOptions()
        for (k, v) in options {
            if k == "format" {
                guard let s = SyslogFormat.Style(rawValue: v.lowercased()) else {
                    throw ExportError("syslog destination \(text): format `\(v)` is not rfc5424 or rfc3164")
                }
                style = s
            } else if case .tls = d, tls.take(k, v) {
                continue
            } else {
                throw ExportError("syslog destination \(text): unknown option `\(k)=` (format=; for tls:// also ca=, cert=, key=, name=)")
            }
        }
        if case .tls(let h, let p, _) = d { d = .tls(host: h, port: p, tls) }
        return (d, style)
    }

    /// The format for this destination: `style` if given; RFC 3164 to a local unix socket
    /// leaves out the hostname, as syslog(3) does.
    public func format(_ base: SyslogFormat, style: SyslogFormat.Style?) -> SyslogFormat {
        var f = base
        if let style { f.style = style }
        if case .unix = self, f.style == .rfc3164 { f.omitHostname = true }
        return f
    }
}

/// A connected socket to a syslog receiver: a datagram socket (unix, UDP) or a stream
/// (TCP, TLS).
final class SyslogSocket {
    private let fd: Int32
    private let stream: StreamConnection?
    let destination: SyslogDestination

    private init(fd: Int32, stream: StreamConnection?, destination: SyslogDestination) {
        self.fd = fd
        self.stream = stream
        self.destination = destination
    }

    deinit { if stream == nil { close(fd) } }

    static func errorText(_ what: String, _ e: Int32) -> String { StreamConnection.errorText(what, e) }

    /// Connects (TCP and the TLS handshake within `timeout`); throws with what failed and why.
    static func connect(_ d: SyslogDestination, timeout: TimeInterval, sendTimeout: TimeInterval) throws -> SyslogSocket {
        switch d {
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw ExportError(errorText("socket(AF_UNIX)", errno)) }
            guard var addr = unixAddress(path) else {
                close(fd)
                throw ExportError("\(path): socket path too long")
            }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc != 0 {
                let e = errno
                close(fd)
                throw ExportError(errorText("connecting to \(path)", e))
            }
            return SyslogSocket(fd: fd, stream: nil, destination: d)
        case .tcp(let host, let port), .tls(let host, let port, _):
            var tls: TLSOptions?
            if case .tls(_, _, let o) = d { tls = o }
            // syslog never answers: a server refusing the client right after the handshake is
            // the only sign of it, so wait for that (up to 2 s) before the first message goes
            let s = try StreamConnection.open(host: host, port: port, tls: tls, label: d.description, connectTimeout: timeout,
                                              ioTimeout: sendTimeout, settle: 2)
            return SyslogSocket(fd: s.fd, stream: s, destination: d)
        case .udp(let host, let port):
            // a datagram socket connects at once; it only fixes where each send goes
            let fd = try StreamConnection.connectInet(host: host, port: port, type: SOCK_DGRAM, label: d.description, timeout: timeout)
            return SyslogSocket(fd: fd, stream: nil, destination: d)
        }
    }

    enum SendResult: Equatable {
        case sent
        /// The receiver's buffer is full (datagram to a busy unix socket): try again soon.
        case busy
        /// The connection is unusable; `refusedEarlier` says an earlier datagram was refused (ICMP).
        case failed(String, refusedEarlier: Bool)
    }

    /// Sends one message with the transport's framing (RFC 6587 / RFC 5425 octet counting on streams).
    func send(_ message: String) -> SendResult {
        if let s = stream {
            // a message written to a connection the receiver closed would be lost in the void
            if s.peerClosed { return .failed("the receiver closed the connection", refusedEarlier: false) }
            let body = Array(message.utf8)
            if let why = s.write(Array("\(body.count) ".utf8) + body) { return .failed(why, refusedEarlier: false) }
            return .sent
        }
        let body = Array(message.utf8)
        while true {
            let n = body.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, body.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)) }
            if n >= 0 { return .sent }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == ENOBUFS { return .busy }
            if case .udp = destination, e == ECONNREFUSED {
                return .failed("receiver refused a datagram (port unreachable)", refusedEarlier: true)
            }
            return .failed(SyslogSocket.errorText("sending", e), refusedEarlier: false)
        }
    }
}

/// The address of a unix socket at `path` (nil: longer than sun_path holds).
func unixAddress(_ path: String) -> sockaddr_un? {
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return nil }
    withUnsafeMutableBytes(of: &addr.sun_path) { b in for (i, c) in bytes.enumerated() { b[i] = c } }
    return addr
}

/// `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT`.
enum HostPort {
    static func parse(_ rest: String, defaultPort: UInt16, what: String) throws -> (String, UInt16) {
        var host: String, portText: String
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw ExportError("\(what): unclosed [ in IPv6 address") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            portText = String(rest[close...].dropFirst()) // ":PORT" or ""
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            portText = String(rest[colon...])
        } else {
            host = rest
            portText = ""
        }
        if portText.hasPrefix(":") { portText.removeFirst() }
        var port = defaultPort
        if !portText.isEmpty {
            guard let p = UInt16(portText), p > 0 else { throw ExportError("\(what): bad port `\(portText)`") }
            port = p
        }
        guard !host.isEmpty else { throw ExportError("\(what): no host") }
        return (host, port)
    }
}

/// `BASE,key=value,key=value`: a sink's destination and its options, in order.
enum SinkOptions {
    static func split(_ text: String, what: String) throws -> (String, [(String, String)]) {
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let base = parts.removeFirst()
        let options = try parts.map { p -> (String, String) in
            guard let eq = p.firstIndex(of: "="), eq != p.startIndex else { throw ExportError("\(what) \(text): `\(p)` is not KEY=VALUE") }
            let v = String(p[p.index(after: eq)...])
            guard !v.isEmpty else { throw ExportError("\(what) \(text): `\(p)` has no value") }
            return (String(p[..<eq]), v)
        }
        return (base, options)
    }
}
