import Foundation
import TetherControl
import TetherExport

/// Prometheus metrics over HTTP on a loopback address only (`GET /metrics`).
final class MetricsServer: @unchecked Sendable {
    private let fd: Int32
    unowned let daemon: Daemon
    private var thread: Thread?
    private let lock = NSLock()
    private var stopping = false
    private let done = DispatchSemaphore(value: 0)

    struct Failure: Error, CustomStringConvertible { var description: String }

    init(address: String, daemon: Daemon) throws {
        self.daemon = daemon
        var host = address, portText = ""
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            host = String(address[address.index(after: address.startIndex)..<close])
            portText = String(address[address.index(after: close)...].dropFirst())
        } else if let colon = address.lastIndex(of: ":") {
            host = String(address[..<colon])
            portText = String(address[address.index(after: colon)...])
        }
        guard let port = UInt16(portText) else { throw Failure(description: "--metrics \(address): expected HOST:PORT, e.g. 127.0.0.1:9464") }
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            guard UInt32(bigEndian: v4.s_addr) >> 24 == 127 else { throw Failure(description: "--metrics \(address): only loopback addresses (127.0.0.0/8, ::1) are allowed") }
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            a.sin_addr = v4
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard rc == 0, listen(fd, 8) == 0 else {
                let e = errno
                close(fd)
                throw Failure(description: "--metrics \(address): \(String(cString: strerror(e)))")
            }
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            guard host == "::1" else { throw Failure(description: "--metrics \(address): only loopback addresses (127.0.0.0/8, ::1) are allowed") }
            fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            a.sin6_addr = v6
            let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
            guard rc == 0, listen(fd, 8) == 0 else {
                let e = errno
                close(fd)
                throw Failure(description: "--metrics \(address): \(String(cString: strerror(e)))")
            }
        } else {
            throw Failure(description: "--metrics \(address): `\(host)` is not an IP address (use 127.0.0.1 or ::1)")
        }
    }

    func start() {
        let t = Thread { [self] in self.serve() }
        t.name = "tether-metrics"
        thread = t
        t.start()
    }

    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        if thread != nil { done.wait() }
        close(fd)
    }

    func snapshot() -> MetricsSnapshot {
        let s = daemon.snapshot()
        var m = MetricsSnapshot()
        m.events = s.events
        m.lostEvents = s.lostEvents
        m.corruptRecords = s.corruptRecords
        m.sessions = s.sessions
        m.trackedProcesses = s.trackedProcesses
        m.findingsByRule = daemon.hub.counts().byRule
        m.reloads = s.reloads
        m.rejectedReloads = s.rejectedReloads
        m.sinks = s.sinks
        return m
    }

    /// Connections answered at once; a scrape needs one, so this only bounds abuse.
    static let maxConnections = 8
    private var active = 0

    private func serve() {
        defer { done.signal() }
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 200)
            lock.lock()
            let stop = stopping
            lock.unlock()
            if stop { return }
            guard p.revents & Int16(POLLIN) != 0 else { continue }
            let c = acceptCloexec(fd)
            if c < 0 {
                if errno == EMFILE || errno == ENFILE { usleep(100_000) } // no spinning on a pending connection
                continue
            }
            lock.lock()
            let busy = active >= MetricsServer.maxConnections
            if !busy { active += 1 }
            lock.unlock()
            if busy {
                let busyText = Array("HTTP/1.0 503 Service Unavailable\r\nConnection: close\r\n\r\n".utf8)
                _ = busyText.withUnsafeBytes { send(c, $0.baseAddress!, busyText.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
                close(c)
                continue
            }
            // each client on a thread of its own, with a deadline for its whole request: a
            // client that sends a byte now and then holds up nobody but itself
            let t = Thread { [self] in
                self.answer(c)
                close(c)
                self.lock.lock()
                self.active -= 1
                self.lock.unlock()
            }
            t.name = "tether-metrics-conn"
            t.start()
        }
    }

    /// Reads one request (at most 8 KiB, within 2 s in all) and answers it.
    private func answer(_ c: Int32) {
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let deadline = Date().addingTimeInterval(2)
        var req = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 2048)
        while req.count < 8192 {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return }
            var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(left * 1000) + 1) > 0 else { return }
            let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress!, 2048, Int32(MSG_DONTWAIT)) }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            if n <= 0 { break }
            req += buf[0..<n]
            if String(decoding: req, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        let first = String(decoding: req, as: UTF8.self).split(separator: "\r\n").first ?? ""
        let parts = first.split(separator: " ")
        let response: String
        if parts.count >= 2, parts[0] == "GET", parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?") {
            let body = snapshot().text()
            response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        } else {
            let body = "not found: try GET /metrics\n"
            response = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        }
        let bytes = Array(response.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { send(c, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            off += n
        }
    }
}
