import Foundation
import TetherExport
import XCTest

/// A port nothing listens on right now (bound then closed).
func localFreePort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return UInt16(bigEndian: a.sin_port)
}

/// A TCP socket listening on 127.0.0.1:`port`.
func localListenTCP(_ port: UInt16, backlog: Int32 = 4) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = port.bigEndian
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    guard withUnsafePointer(to: &a, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0,
          listen(fd, backlog) == 0 else {
        let e = errno
        close(fd)
        throw NSError(domain: "listen", code: Int(e), userInfo: [NSLocalizedDescriptionKey: "127.0.0.1:\(port): \(String(cString: strerror(e)))"])
    }
    return fd
}

/// A unix datagram socket bound at `path` (a stale file there removed first), as a receiver.
func localBindDatagram(_ path: String) throws -> Int32 {
    unlink(path)
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { b in for (i, c) in path.utf8.enumerated() { b[i] = c } }
    guard withUnsafePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }) == 0 else {
        let e = errno
        close(fd)
        throw NSError(domain: "bind", code: Int(e), userInfo: [NSLocalizedDescriptionKey: "\(path): \(String(cString: strerror(e)))"])
    }
    return fd
}

/// The sink's delivery behaviour against receivers the test controls (no root needed):
/// framing, a receiver that is down then comes back, a receiver that stops reading.
final class SyslogSinkTests: XCTestCase {
    func alert(_ i: Int, message: String? = nil) -> AlertRecord {
        AlertRecord(rule: "test.rule", severity: .medium, mitre: "T0000", message: message ?? "alert \(i)",
                    session: "0000000000000001", pid: Int32(i), action: "alert")
    }

    func fastOptions(capacity: Int) -> SyslogSink.Options {
        var o = SyslogSink.Options()
        o.capacity = capacity
        o.initialBackoff = 0.02
        o.maxBackoff = 0.1
        o.sendTimeout = 0.3
        return o
    }

    func freePort() -> UInt16 { localFreePort() }

    func listenTCP(_ port: UInt16) throws -> Int32 { try localListenTCP(port) }

    /// Reads RFC 6587 octet-counted frames until `count` arrived or `timeout`.
    func readFrames(_ fd: Int32, count: Int, timeout: TimeInterval = 5) -> [String] {
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buf: [UInt8] = []
        var frames: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        while frames.count < count && Date() < deadline {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, 65536, 0) }
            if n > 0 { buf += chunk[0..<n] }
            while let sp = buf.firstIndex(of: 32), let len = Int(String(decoding: buf[..<sp], as: UTF8.self)), buf.count > sp + len {
                frames.append(String(decoding: buf[(sp + 1)...(sp + len)], as: UTF8.self))
                buf.removeSubrange(...(sp + len))
            }
        }
        return frames
    }

    func testUnixDatagramDeliversOneMessagePerAlert() throws {
        let path = NSTemporaryDirectory() + "tether-sink-\(getpid()).sock"
        let fd = try localBindDatagram(path)
        defer { close(fd); unlink(path) }
        var f = SyslogFormat()
        f.hostname = "h"
        let sink = SyslogSink(destination: .unix(path), format: f, options: fastOptions(capacity: 10))
        sink.submit(alert(1))
        sink.submit(alert(2))
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var got: [String] = []
        for _ in 0..<2 {
            var b = [UInt8](repeating: 0, count: 8192)
            let n = b.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, 8192, 0) }
            if n > 0 { got.append(String(decoding: b[0..<n], as: UTF8.self)) }
        }
        XCTAssertEqual(got.count, 2)
        XCTAssertTrue(got.first?.hasSuffix("] alert 1") ?? false, "\(got)")
        XCTAssertTrue(got.last?.contains(#"pid="2""#) ?? false, "\(got)")
        XCTAssertEqual(sink.close(timeout: 1), 0)
        XCTAssertEqual(sink.health().sent, 2)
    }

    func testReceiverDownNeverBlocksCountsDropsAndReportsThemOnceBack() throws {
        let port = freePort()
        var changes: [String] = []
        let lock = NSLock()
        let sink = SyslogSink(destination: .tcp(host: "127.0.0.1", port: port), format: SyslogFormat(),
                              options: fastOptions(capacity: 3), onStateChange: { s in lock.lock(); changes.append(s); lock.unlock() })
        let start = Date()
        for i in 1...10 { sink.submit(alert(i)) }
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.1, "submit must never wait for the receiver")
        usleep(200_000)
        var h = sink.health()
        XCTAssertEqual(h.state, "down")
        XCTAssertEqual(h.dropped, 7)
        XCTAssertEqual(h.queued, 3)
        XCTAssertTrue(h.lastError?.contains("Connection refused") ?? false, "\(h)")

        let lfd = try listenTCP(port)
        defer { close(lfd) }
        var p = pollfd(fd: lfd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&p, 1, 5000), 1, "the sink reconnects")
        let c = accept(lfd, nil, nil)
        defer { close(c) }
        let frames = readFrames(c, count: 4)
        XCTAssertEqual(frames.count, 4, "\(frames)")
        XCTAssertTrue(frames.first?.contains(#"rule="tether.alerts_dropped""#) ?? false, "the drop report comes first: \(frames)")
        XCTAssertTrue(frames.first?.contains(#"dropped="7""#) ?? false, "\(frames)")
        XCTAssertEqual(frames.dropFirst().map { $0.split(separator: " ").last.map(String.init) }, ["1", "2", "3"], "queued alerts in order")
        // the receiver can have the bytes a moment before the sender thread counts them
        let deadline = Date().addingTimeInterval(2)
        repeat { h = sink.health(); if h.sent == 3 { break }; usleep(10_000) } while Date() < deadline
        XCTAssertEqual(h.state, "up")
        XCTAssertEqual(h.sent, 3)
        XCTAssertEqual(h.dropped, 7)
        lock.lock()
        XCTAssertTrue(changes.contains { $0.contains("unreachable") }, "\(changes)")
        XCTAssertTrue(changes.contains { $0.contains("reported 7 dropped") }, "\(changes)")
        lock.unlock()
        XCTAssertEqual(sink.close(timeout: 1), 0)
    }

    func testAReceiverThatStopsReadingCostsDropsNotTime() throws {
        let port = freePort()
        let lfd = try listenTCP(port)
        defer { close(lfd) }
        let sink = SyslogSink(destination: .tcp(host: "127.0.0.1", port: port), format: SyslogFormat(),
                              options: fastOptions(capacity: 64))
        let big = String(repeating: "x", count: 256 * 1024)
        // never accept()/read: the kernel's buffers fill, then a send times out
        var slowest: TimeInterval = 0
        let deadline = Date().addingTimeInterval(20)
        var h = sink.health()
        var i = 0
        while !(h.lastError ?? "").contains("too slow") && Date() < deadline {
            for _ in 0..<20 {
                i += 1
                let t0 = Date()
                sink.submit(alert(i, message: big))
                slowest = max(slowest, Date().timeIntervalSince(t0))
            }
            usleep(20_000)
            h = sink.health()
        }
        XCTAssertTrue(h.lastError?.contains("too slow") ?? false, "\(h)")
        XCTAssertLessThan(slowest, 0.05, "submit must never wait for the receiver")
        XCTAssertGreaterThan(h.dropped, 0, "\(h)")
        let left = sink.close(timeout: 0.2)
        let end = sink.health()
        XCTAssertEqual(end.sent + end.dropped, UInt64(i), "every alert is either sent or counted as dropped (\(left) left at close)")
    }

    func testCloseCountsWhatItCouldNotDeliver() {
        let sink = SyslogSink(destination: .tcp(host: "127.0.0.1", port: freePort()), format: SyslogFormat(),
                              options: fastOptions(capacity: 5))
        for i in 1...3 { sink.submit(alert(i)) }
        let start = Date()
        XCTAssertEqual(sink.close(timeout: 0.3), 3)
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        XCTAssertEqual(sink.health().dropped, 3)
        XCTAssertEqual(sink.health().state, "closed")
        sink.submit(alert(4))
        XCTAssertEqual(sink.health().dropped, 4, "an alert after close is counted, not lost silently")
    }

    func testJSONLinesSinkAppendsAndReopens() throws {
        let path = NSTemporaryDirectory() + "tether-alerts-\(getpid()).jsonl"
        unlink(path)
        defer { unlink(path); unlink(path + ".1") }
        let sink = try JSONLinesSink(path: path)
        sink.submit(alert(1))
        rename(path, path + ".1") // log rotation
        sink.reopen()
        sink.submit(alert(2))
        sink.close(timeout: 1)
        let rotated = try String(contentsOfFile: path + ".1", encoding: .utf8)
        let fresh = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(try AlertJSON.decode(rotated.trimmingCharacters(in: .newlines)).pid, 1)
        XCTAssertEqual(try AlertJSON.decode(fresh.trimmingCharacters(in: .newlines)).pid, 2)
        XCTAssertEqual(sink.health().sent, 2)
        XCTAssertThrowsError(try JSONLinesSink(path: "/nonexistent-dir/x.jsonl")) { XCTAssertTrue("\($0)".contains("/nonexistent-dir/x.jsonl")) }
    }

    func testHubFansOutKeepsRecentAndCounts() {
        final class Memory: AlertSink {
            let name = "memory"
            var got: [AlertRecord] = []
            func submit(_ a: AlertRecord) { got.append(a) }
            func health() -> SinkHealth { SinkHealth(name: name, state: "up", queued: 0, sent: UInt64(got.count), dropped: 0, lastError: nil) }
            func close(timeout: TimeInterval) -> Int { 0 }
        }
        let a = Memory(), b = Memory()
        let hub = AlertHub(sinks: [a, b], keep: 2)
        var followed = 0
        let id = hub.follow { _ in followed += 1 }
        for i in 1...3 { hub.publish(alert(i)) }
        hub.unfollow(id)
        hub.publish(alert(4))
        XCTAssertEqual(a.got.count, 4)
        XCTAssertEqual(b.got.count, 4)
        XCTAssertEqual(followed, 3)
        XCTAssertEqual(hub.recentAlerts(limit: 10).map(\.pid), [3, 4])
        XCTAssertEqual(hub.counts().byRule["test.rule"], 4)
    }
}
