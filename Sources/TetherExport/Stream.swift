import CTetherTLS
import Foundation

/// How a stream sink verifies its receiver over TLS: the CA file its certificate must chain
/// to (nil: the system's store), the name it must carry (nil: the host it was reached by),
/// and an optional client certificate and key for mutual TLS.
public struct TLSOptions: Sendable, Equatable {
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var peerName: String?
    public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, peerName: String? = nil) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.peerName = peerName
    }

    /// Takes `ca=`, `cert=`, `key=` or `name=`; false for any other key.
    mutating func take(_ key: String, _ value: String) -> Bool {
        switch key {
        case "ca": caFile = value
        case "cert": certFile = value
        case "key": keyFile = value
        case "name": peerName = value
        default: return false
        }
        return true
    }

    var suffix: String {
        [("ca", caFile), ("cert", certFile), ("key", keyFile), ("name", peerName)].compactMap { k, v in v.map { ",\(k)=\($0)" } }.joined()
    }

    /// Loads the files now: a missing or unreadable CA, certificate or key, or a key that
    /// does not match its certificate, is said before anything starts.
    public func check() throws { _ = try TLSContext(self) }
}

/// OpenSSL's context for one destination (CA, client certificate). Loaded again at every
/// (re)connect, so renewed certificates are picked up without a restart.
final class TLSContext {
    let raw: OpaquePointer

    init(_ o: TLSOptions) throws {
        var err = [CChar](repeating: 0, count: 512)
        guard let c = tt_config_new(o.caFile, o.certFile, o.keyFile, &err, err.count) else {
            throw ExportError(String(cString: err))
        }
        raw = c
    }

    deinit { tt_config_free(raw) }
}

/// A TCP connection, in clear or TLS, whose every wait is bounded: connect within
/// `connectTimeout`, the TLS handshake and each send or read within `ioTimeout`.
final class StreamConnection {
    let fd: Int32
    private var tls: OpaquePointer?

    private init(fd: Int32) { self.fd = fd }

    deinit {
        if let t = tls { tt_close(t) }
        close(fd)
    }

    static func errorText(_ what: String, _ e: Int32) -> String { "\(what): \(String(cString: strerror(e)))" }

    /// `label` names the destination in errors (e.g. `tls://logs:6514`). `settle`: how long
    /// to wait after the TLS handshake for a server that refuses the client only then (for
    /// protocols without an answer, such as syslog; 0 for HTTP, whose answer tells).
    static func open(host: String, port: UInt16, tls: TLSOptions?, label: String,
                     connectTimeout: TimeInterval, ioTimeout: TimeInterval, settle: TimeInterval = 0) throws -> StreamConnection {
        // the context first: a bad CA file is the error to show, not a refused connection
        let context = try tls.map { try TLSContext($0) }
        let c = try connectTCP(host: host, port: port, label: label, timeout: connectTimeout)
        var tv = timeval(tv_sec: Int(ioTimeout), tv_usec: Int((ioTimeout - Double(Int(ioTimeout))) * 1e6))
        setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if let context, let o = tls {
            var err = [CChar](repeating: 0, count: 768)
            guard let t = tt_connect(context.raw, c.fd, o.peerName ?? host, Int32(min(settle, ioTimeout) * 1000), &err, err.count) else {
                throw ExportError("\(label): \(String(cString: err))")
            }
            c.tls = t
        }
        return c
    }

    private static func connectTCP(host: String, port: UInt16, label: String, timeout: TimeInterval) throws -> StreamConnection {
        StreamConnection(fd: try connectInet(host: host, port: port, type: SOCK_STREAM, label: label, timeout: timeout))
    }

    /// A socket of `type` connected to the first address of `host` that takes it (a stream
    /// within `timeout`), left blocking: the socket timeouts bound every later wait.
    static func connectInet(host: String, port: UInt16, type: __socket_type, label: String, timeout: TimeInterval) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(type.rawValue)
        hints.ai_family = AF_UNSPEC
        var res: UnsafeMutablePointer<addrinfo>?
        let g = getaddrinfo(host, String(port), &hints, &res)
        guard g == 0, let first = res else { throw ExportError("resolving \(host): \(String(cString: gai_strerror(g)))") }
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
                    if poll(&p, 1, Int32(timeout * 1000)) == 1 {
                        var soerr: Int32 = 0
                        var len = socklen_t(MemoryLayout<Int32>.size)
                        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len)
                        e = soerr
                    } else {
                        e = ETIMEDOUT
                    }
                }
                if e != 0 {
                    lastError = errorText("connecting to \(label)", e)
                    close(fd)
                    continue
                }
            }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            return fd
        }
        throw ExportError(lastError)
    }

    /// Writes all of `bytes`; nil, or why not.
    func write(_ bytes: [UInt8]) -> String? {
        if let t = tls {
            var err = [CChar](repeating: 0, count: 512)
            let rc = bytes.withUnsafeBytes { tt_write(t, $0.baseAddress, $0.count, &err, err.count) }
            return rc == 0 ? nil : String(cString: err)
        }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                return e == EAGAIN ? "receiver too slow: send blocked longer than the send timeout" : StreamConnection.errorText("sending", e)
            }
            off += n
        }
        return nil
    }

    /// Reads what is there (waiting within the socket's timeout): bytes, empty when the peer
    /// closed, or throws why not.
    func read(max: Int = 16384) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: max)
        if let t = tls {
            var err = [CChar](repeating: 0, count: 512)
            let n = buf.withUnsafeMutableBytes { tt_read(t, $0.baseAddress, $0.count, &err, err.count) }
            guard n >= 0 else { throw ExportError(String(cString: err)) }
            return Array(buf[0..<Int(n)])
        }
        while true {
            let n = recv(fd, &buf, max, 0)
            if n >= 0 { return Array(buf[0..<n]) }
            if errno == EINTR { continue }
            throw ExportError(errno == EAGAIN ? "timed out waiting for the receiver's answer" : StreamConnection.errorText("reading", errno))
        }
    }

    /// Without blocking: has the peer closed (or reset) the connection? A receiver that only
    /// listens never sends, so anything readable in clear means it is gone; over TLS the
    /// records it may send (session tickets) are consumed first.
    var peerClosed: Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) > 0 else { return false }
        if p.revents & (Int16(POLLHUP) | Int16(POLLERR)) != 0 { return true }
        if let t = tls { return tt_peer_closed(t) != 0 }
        var b: UInt8 = 0
        return recv(fd, &b, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) == 0
    }
}
