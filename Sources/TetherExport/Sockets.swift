import Foundation

/// Where a syslog sink sends: `unix:/dev/log`, `udp://HOST:PORT`, `tcp://HOST:PORT`
/// (IPv6 as `[::1]`). The only file in TetherExport that touches socket syscalls and errno.
public enum SyslogDestination: Sendable, Equatable, CustomStringConvertible {
    case unix(String)
    case udp(host: String, port: UInt16)
    case tcp(host: String, port: UInt16)

    public init(parsing text: String) throws {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/") else { throw ExportError("syslog destination \(text): unix: needs an absolute socket path, e.g. unix:/dev/log") }
            self = .unix(path)
            return
        }
        let isUDP = text.hasPrefix("udp://"), isTCP = text.hasPrefix("tcp://")
        guard isUDP || isTCP else {
            throw ExportError("syslog destination \(text): expected unix:/PATH, udp://HOST:PORT or tcp://HOST:PORT")
        }
        let rest = String(text.dropFirst(6))
        var host: String, portText: String
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw ExportError("syslog destination \(text): unclosed [ in IPv6 address") }
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
        let port: UInt16
        if portText.isEmpty { port = isUDP ? 514 : 6514 } else {
            guard let p = UInt16(portText), p > 0 else { throw ExportError("syslog destination \(text): bad port `\(portText)`") }
            port = p
        }
        guard !host.isEmpty else { throw ExportError("syslog destination \(text): no host") }
        self = isUDP ? .udp(host: host, port: port) : .tcp(host: host, port: port)
    }

    public var description: String {
        func h(_ s: String) -> String { s.contains(":") ? "[\(s)]" : s }
        switch self {
        case .unix(let p): return "unix:\(p)"
        case .udp(let host, let port): return "udp://\(h(host)):\(port)"
        case .tcp(let host, let port): return "tcp://\(h(host)):\(port)"
        }
    }

    var isStream: Bool { if case .tcp = self { return true } else { return false } }

    /// `DEST` or `DEST,format=rfc3164|rfc5424`: a destination with its own message format.
    public static func parse(withFormat text: String) throws -> (SyslogDestination, SyslogFormat.Style?) {
        guard let r = text.range(of: ",format=", options: .backwards) else { return (try SyslogDestination(parsing: text), nil) }
        let name = String(text[r.upperBound...])
        guard let style = SyslogFormat.Style(rawValue: name.lowercased()) else {
            throw ExportError("syslog destination \(text): format `\(name)` is not rfc5424 or rfc3164")
        }
        return (try SyslogDestination(parsing: String(text[..<r.lowerBound])), style)
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

/// A connected socket to a syslog receiver.
final class SyslogSocket {
    let fd: Int32
    let destination: SyslogDestination

    private init(fd: Int32, destination: SyslogDestination) {
        self.fd = fd
        self.destination = destination
    }

    deinit { close(fd) }

    static func errorText(_ what: String, _ e: Int32) -> String { "\(what): \(String(cString: strerror(e)))" }

    /// Connects (TCP within `timeout`); throws with what failed and why.
    static func connect(_ d: SyslogDestination, timeout: TimeInterval, sendTimeout: TimeInterval) throws -> SyslogSocket {
        switch d {
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw ExportError(errorText("socket(AF_UNIX)", errno)) }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
                close(fd)
                throw ExportError("\(path): socket path too long")
            }
            withUnsafeMutableBytes(of: &addr.sun_path) { b in for (i, c) in bytes.enumerated() { b[i] = c } }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc != 0 {
                let e = errno
                close(fd)
                throw ExportError(errorText("connecting to \(path)", e))
            }
            return SyslogSocket(fd: fd, destination: d)
        case .udp(let host, let port), .tcp(let host, let port):
            let stream = d.isStream
            var hints = addrinfo()
            hints.ai_socktype = stream ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue)
            hints.ai_family = AF_UNSPEC
            var res: UnsafeMutablePointer<addrinfo>?
            let g = getaddrinfo(host, String(port), &hints, &res)
            guard g == 0, let first = res else {
                throw ExportError("resolving \(host): \(String(cString: gai_strerror(g)))")
            }
            defer { freeaddrinfo(res) }
            var lastError = "no address for \(host)"
            var ai: UnsafeMutablePointer<addrinfo>? = first
            while let a = ai {
                ai = a.pointee.ai_next
                let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), a.pointee.ai_protocol)
                if fd < 0 { lastError = errorText("socket", errno); continue }
                if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) != 0 {
                    var e = errno
                    if e == EINPROGRESS {
                        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                        let n = poll(&p, 1, Int32(timeout * 1000))
                        if n == 1 {
                            var soerr: Int32 = 0
                            var len = socklen_t(MemoryLayout<Int32>.size)
                            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len)
                            e = soerr
                        } else {
                            e = ETIMEDOUT
                        }
                    }
                    if e != 0 {
                        lastError = errorText("connecting to \(d)", e)
                        close(fd)
                        continue
                    }
                }
                // Blocking from here on, but a send never waits longer than sendTimeout.
                let flags = fcntl(fd, F_GETFL)
                _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
                var tv = timeval(tv_sec: Int(sendTimeout), tv_usec: Int((sendTimeout - Double(Int(sendTimeout))) * 1e6))
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                return SyslogSocket(fd: fd, destination: d)
            }
            throw ExportError(lastError)
        }
    }

    enum SendResult: Equatable {
        case sent
        /// The receiver's buffer is full (datagram to a busy unix socket): try again soon.
        case busy
        /// The connection is unusable; `refusedEarlier` says an earlier datagram was refused (ICMP).
        case failed(String, refusedEarlier: Bool)
    }

    /// Sends one message with the transport's framing (RFC 6587 octet counting on TCP).
    func send(_ message: String) -> SendResult {
        switch destination {
        case .tcp:
            // A receiver never talks back: anything readable means it closed (or reset) the
            // connection, and writing now would lose this message in the void.
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 0) > 0 {
                var b: UInt8 = 0
                let n = recv(fd, &b, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
                if n == 0 || p.revents & (Int16(POLLHUP) | Int16(POLLERR)) != 0 {
                    return .failed("the receiver closed the connection", refusedEarlier: false)
                }
            }
            let body = Array(message.utf8)
            let frame = Array("\(body.count) ".utf8) + body
            var off = 0
            while off < frame.count {
                let n = frame.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, frame.count - off, Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    let e = errno
                    return .failed(e == EAGAIN ? "receiver too slow: send blocked longer than the send timeout" : SyslogSocket.errorText("sending", e), refusedEarlier: false)
                }
                off += n
            }
            return .sent
        case .unix, .udp:
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
}
