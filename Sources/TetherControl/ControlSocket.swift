import Foundation
import TetherExport

public struct ControlError: Error, CustomStringConvertible {
    public var description: String
    /// The errno behind it, if a syscall failed.
    public var errno: Int32
    public init(_ d: String, errno: Int32 = 0) {
        description = d
        self.errno = errno
    }
}

/// Who is on the other end of a control connection (SO_PEERCRED, taken at connect()).
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
}

/// One stream connection that speaks newline-delimited JSON.
public final class ControlConnection: @unchecked Sendable {
    public let fd: Int32
    private var buffer: [UInt8] = []
    private let writeLock = NSLock()
    private var closed = false

    init(fd: Int32) { self.fd = fd }
    deinit { close() }

    public func close() {
        writeLock.lock()
        defer { writeLock.unlock() }
        if !closed { Glibc.close(fd); closed = true }
    }

    public func peer() throws -> PeerCredentials {
        var c = PeerCred()
        var len = socklen_t(MemoryLayout<PeerCred>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) == 0 else {
            throw ControlError("getsockopt(SO_PEERCRED): \(String(cString: strerror(errno)))", errno: errno)
        }
        return PeerCredentials(pid: c.pid, uid: c.uid, gid: c.gid)
    }

    /// Writes one line; false once the peer is gone.
    @discardableResult
    public func send(_ line: String) -> Bool {
        let bytes = Array((line + "\n").utf8)
        writeLock.lock()
        defer { writeLock.unlock() }
        if closed { return false }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            off += n
        }
        return true
    }

    @discardableResult
    public func send<T: Encodable>(_ v: T) -> Bool { send(ControlCodec.line(v)) }

    /// True once the peer has closed its end (checked without blocking).
    public var peerClosed: Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) > 0 else { return false }
        if p.revents & (Int16(POLLHUP) | Int16(POLLERR)) != 0 { return true }
        var b: UInt8 = 0
        return recv(fd, &b, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) == 0
    }

    /// Reads one line (without its newline); nil at end of stream or on error.
    public func readLine(maxBytes: Int = 1 << 20) -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            if buffer.count > maxBytes { return nil }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, 4096, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                if buffer.isEmpty { return nil }
                let line = String(decoding: buffer, as: UTF8.self)
                buffer.removeAll()
                return line
            }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }
}

/// struct ucred (needs _GNU_SOURCE in C, so Glibc does not export it).
struct PeerCred {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// accept, close-on-exec (accept4 needs _GNU_SOURCE in C).
public func acceptCloexec(_ fd: Int32) -> Int32 {
    let c = accept(fd, nil, nil)
    if c >= 0 { _ = fcntl(c, F_SETFD, FD_CLOEXEC) }
    return c
}

func unixAddress(_ path: String) throws -> sockaddr_un {
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw ControlError("\(path): socket path too long") }
    withUnsafeMutableBytes(of: &addr.sun_path) { b in for (i, c) in bytes.enumerated() { b[i] = c } }
    return addr
}

/// The CLI's side: connect, send one request, read responses.
public enum ControlClient {
    public static func connect(path: String) throws -> ControlConnection {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError("socket(AF_UNIX): \(String(cString: strerror(errno)))", errno: errno) }
        var addr = try unixAddress(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 {
            let e = errno
            Glibc.close(fd)
            let hint: String
            switch e {
            case EACCES, EPERM: hint = " (the control socket is root's only: run as root)"
            case ENOENT, ECONNREFUSED: hint = " (is tetherd running? `systemctl status tetherd`)"
            default: hint = ""
            }
            throw ControlError("cannot connect to \(path): \(String(cString: strerror(e)))\(hint)", errno: e)
        }
        return ControlConnection(fd: fd)
    }

    /// One request, one response.
    public static func call(_ req: ControlRequest, path: String) throws -> ControlResponse {
        let c = try connect(path: path)
        defer { c.close() }
        // A refused peer gets its answer at once and the connection closed: read it even if
        // sending the request failed.
        let sent = c.send(req)
        guard let line = c.readLine() else {
            throw ControlError("\(path): the daemon closed the connection without answering\(sent ? "" : " (sending the request failed)")")
        }
        do { return try ControlCodec.decode(ControlResponse.self, line) } catch {
            throw ControlError("\(path): unreadable answer from the daemon: \(line.prefix(200))")
        }
    }
}

/// The daemon's side: a root-only unix socket; each connection is served on a thread of
/// its own after `authorize` has accepted the peer (it returns a refusal text, or nil).
public final class ControlListener: @unchecked Sendable {
    /// Connections served at once; more are answered with a refusal and closed.
    public static let maxConnections = 64
    public let path: String
    private let fd: Int32
    private var thread: Thread?
    private let lock = NSLock()
    private var stopping = false
    private var open: [Int32: ControlConnection] = [:]
    private let authorize: (PeerCredentials) -> String?
    private let handle: (ControlRequest, ControlConnection, PeerCredentials) -> Void
    private let acceptDone = DispatchSemaphore(value: 0)

    public init(path: String, mode: mode_t = 0o600,
                authorize: @escaping (PeerCredentials) -> String?,
                handle: @escaping (ControlRequest, ControlConnection, PeerCredentials) -> Void) throws {
        self.path = path
        self.authorize = authorize
        self.handle = handle
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty && access(dir, F_OK) != 0 && mkdir(dir, 0o755) != 0 && errno != EEXIST {
            throw ControlError("creating \(dir) for the control socket: \(String(cString: strerror(errno)))", errno: errno)
        }
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError("socket(AF_UNIX): \(String(cString: strerror(errno)))", errno: errno) }
        // A socket file left by a crashed daemon is replaced; a live daemon's is not.
        if let probe = try? ControlClient.connect(path: path) {
            probe.close()
            Glibc.close(fd)
            throw ControlError("\(path): another daemon is answering on this control socket")
        }
        unlink(path)
        var addr = try unixAddress(path)
        // bind under a restrictive umask, so the socket is never reachable before chmod
        let old = umask(0o177)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(old)
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw ControlError("binding the control socket \(path): \(String(cString: strerror(e)))", errno: e)
        }
        guard chmod(path, mode) == 0, listen(fd, 16) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw ControlError("setting up the control socket \(path): \(String(cString: strerror(e)))", errno: e)
        }
    }

    public func start() {
        let t = Thread { [self] in self.acceptLoop() }
        t.name = "tether-control"
        thread = t
        t.start()
    }

    private func acceptLoop() {
        defer { acceptDone.signal() }
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 200)
            lock.lock()
            let stop = stopping
            lock.unlock()
            if stop { return }
            if p.revents & Int16(POLLIN) == 0 { continue }
            let c = acceptCloexec(fd)
            if c < 0 {
                // out of descriptors (EMFILE) or memory: the pending connection stays readable,
                // so poll would return at once; back off instead of spinning
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM { usleep(100_000) }
                continue
            }
            lock.lock()
            let busy = open.count >= ControlListener.maxConnections
            lock.unlock()
            if busy {
                // bounded: idle clients must not take the descriptors the daemon needs to act
                let conn = ControlConnection(fd: c)
                conn.send(ControlResponse.failure("refused: tetherd serves at most \(ControlListener.maxConnections) control connections at once; try again"))
                conn.close()
                continue
            }
            // a client that connects and says nothing is dropped after a while (followers are not read from)
            var tv = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let conn = ControlConnection(fd: c)
            lock.lock()
            open[c] = conn
            lock.unlock()
            let t = Thread { [self] in
                self.serve(conn)
                self.lock.lock()
                self.open[c] = nil
                self.lock.unlock()
                conn.close()
            }
            t.name = "tether-control-conn"
            t.start()
        }
    }

    private func serve(_ c: ControlConnection) {
        let peer: PeerCredentials
        do { peer = try c.peer() } catch {
            c.send(ControlResponse.failure("\(error)"))
            return
        }
        if let refusal = authorize(peer) {
            c.send(ControlResponse.failure(refusal))
            return
        }
        while let line = c.readLine() {
            if line.isEmpty { continue }
            let req: ControlRequest
            do { req = try ControlCodec.decode(ControlRequest.self, line) } catch {
                c.send(ControlResponse.failure("bad request `\(line.prefix(200))`: expected one JSON object with a known `command` (status, sessions, alerts, resume, kill, reload, register)"))
                continue
            }
            handle(req, c, peer)
        }
    }

    /// Stops accepting, ends open connections (followers), removes the socket file.
    public func stop() {
        lock.lock()
        stopping = true
        let conns = Array(open.values)
        lock.unlock()
        for c in conns { shutdown(c.fd, Int32(SHUT_RDWR)) }
        if thread != nil { acceptDone.wait() }
        thread = nil
        unlink(path)
        Glibc.close(fd)
    }
}
