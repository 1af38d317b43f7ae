import Foundation
import TetherExport
import XCTest

/// A local HTTP receiver the test steers: answering with a status (plain or chunked), or
/// silent (reads each request, never answers: a collector that hangs).
final class WebhookReceiver: @unchecked Sendable {
    enum Mode { case answer(Int), chunked(Int), silent }
    struct Request { var path: String; var headers: [String: String]; var body: String }

    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var mode: Mode
    private var got: [Request] = []
    private var stopping = false
    private var accepted = 0

    init(port: UInt16, mode: Mode) throws {
        self.port = port
        self.mode = mode
        listener = try localListenTCP(port, backlog: 16)
        Thread { self.acceptLoop() }.start()
    }

    func set(_ m: Mode) { lock.lock(); mode = m; lock.unlock() }
    var requests: [Request] { lock.lock(); defer { lock.unlock() }; return got }
    var connections: Int { lock.lock(); defer { lock.unlock() }; return accepted }

    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    private func acceptLoop() {
        while !isStopping {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            let fd = accept(listener, nil, nil)
            if fd < 0 { continue }
            lock.lock()
            accepted += 1
            lock.unlock()
            Thread { self.serve(fd) }.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var buf: [UInt8] = []
        while !isStopping {
            // one request: headers, then Content-Length bytes
            var headEnd: Int?
            while headEnd == nil {
                guard let more = read(fd) else { return }
                buf += more
                headEnd = buf.indices.dropLast(3).first { buf[$0] == 13 && buf[$0 + 1] == 10 && buf[$0 + 2] == 13 && buf[$0 + 3] == 10 }
            }
            let head = String(decoding: buf[0..<headEnd!], as: UTF8.self).components(separatedBy: "\r\n")
            var headers: [String: String] = [:]
            for l in head.dropFirst() {
                if let c = l.firstIndex(of: ":") { headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces) }
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            buf.removeSubrange(0..<(headEnd! + 4))
            while buf.count < length {
                guard let more = read(fd) else { return }
                buf += more
            }
            let body = String(decoding: buf[0..<length], as: UTF8.self)
            buf.removeSubrange(0..<length)
            let path = head[0].split(separator: " ").dropFirst().first.map(String.init) ?? ""
            lock.lock()
            got.append(Request(path: path, headers: headers, body: body))
            let m = mode
            lock.unlock()
            let answer: String
            switch m {
            case .silent:
                // hold the connection until the client gives up (it closes: read returns nil)
                while read(fd) != nil {}
                return
            case .answer(let status):
                answer = "HTTP/1.1 \(status) Whatever\r\nContent-Length: 2\r\n\r\nok"
            case .chunked(let status):
                answer = "HTTP/1.1 \(status) Whatever\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
            }
            let bytes = Array(answer.utf8)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// Bytes, or nil when the peer closed or the receiver stops.
    private func read(_ fd: Int32) -> [UInt8]? {
        while !isStopping {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            return n > 0 ? Array(chunk[0..<n]) : nil
        }
        return nil
    }
}

/// The webhook sink against a receiver that is down, hangs, refuses, then takes alerts.
final class HTTPSinkTests: XCTestCase {
    func alert(_ i: Int) -> AlertRecord {
        AlertRecord(rule: "persist.cron", severity: .high, mitre: "T1053.003", message: "alert \(i)",
                    session: "0000000000000001", pid: Int32(1000 + i), exe: "/usr/bin/cp", path: "/etc/cron.d/x\(i)", action: "alert")
    }

    func options(capacity: Int) -> HTTPSink.Options {
        var o = HTTPSink.Options()
        o.capacity = capacity
        o.initialBackoff = 0.02
        o.maxBackoff = 0.1
        o.connectTimeout = 1
        // long enough that a receiver that answers is never taken for one that hangs on a
        // loaded machine; the hanging one costs this much per try
        o.sendTimeout = 1.5
        return o
    }

    func port() -> UInt16 { localFreePort() }

    func eventually(_ timeout: TimeInterval = 20, _ cond: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline { if cond() { return true }; usleep(20_000) }
        return cond()
    }

    func messages(_ r: [WebhookReceiver.Request]) -> [String] {
        r.flatMap { $0.body.split(separator: "\n") }.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["message"] as? String
        }
    }

    func testDownThenHangingThenUpLosesNothingButTheCountedDrops() throws {
        let p = port()
        let sink = HTTPSink(destination: try HTTPDestination(parsing: "http://127.0.0.1:\(p)/hook"), options: options(capacity: 5))
        defer { sink.close(timeout: 1) }
        // down: nothing listens
        for i in 0..<3 { sink.submit(alert(i)) }
        XCTAssertTrue(eventually { sink.health().state == "down" }, "\(sink.health())")
        XCTAssertTrue(sink.health().lastError?.contains("connecting to http://127.0.0.1:\(p)/hook") == true, "\(sink.health())")

        // hanging: the receiver takes requests and never answers; the sink times out and retries
        let r = try WebhookReceiver(port: p, mode: .silent)
        defer { r.stop() }
        XCTAssertTrue(eventually { r.requests.count >= 2 }, "the sink retried a request that got no answer")
        XCTAssertTrue(sink.health().lastError?.contains("timed out") == true, "\(sink.health())")
        // the queue holds 5 (the one in flight included): of 7 more, 5 are dropped and counted
        for i in 3..<10 { sink.submit(alert(i)) }
        XCTAssertEqual(sink.health().dropped, 5)

        // up: everything queued arrives, after a report of what was dropped
        r.set(.answer(200))
        XCTAssertTrue(eventually { sink.health().sent == 5 && sink.health().queued == 0 }, "\(sink.health())")
        let got = messages(r.requests)
        XCTAssertEqual(Set(got.filter { $0.hasPrefix("alert ") }), Set((0..<5).map { "alert \($0)" }), "\(got)")
        let report = try XCTUnwrap(got.first { $0.contains("were not delivered") }, "\(got)")
        XCTAssertTrue(report.hasPrefix("5 alert(s)"), report)
        XCTAssertEqual(sink.health().dropped, 5, "no loss beyond the counted drops")
        XCTAssertEqual(sink.health().state, "up")
        XCTAssertEqual(r.requests.last?.path, "/hook")
        XCTAssertEqual(r.requests.last?.headers["content-type"], "application/json")
    }

    func testARefusedAlertIsCountedAndNotSentAgain() throws {
        let p = port()
        let r = try WebhookReceiver(port: p, mode: .answer(400))
        defer { r.stop() }
        let sink = HTTPSink(destination: try HTTPDestination(parsing: "http://127.0.0.1:\(p)/"), options: options(capacity: 5))
        defer { sink.close(timeout: 1) }
        sink.submit(alert(1))
        XCTAssertTrue(eventually { sink.health().dropped == 1 }, "\(sink.health())")
        XCTAssertTrue(sink.health().lastError?.contains("400") == true, "\(sink.health())")
        r.set(.answer(204))
        sink.submit(alert(2))
        XCTAssertTrue(eventually { sink.health().sent == 1 }, "\(sink.health())")
        let got = messages(r.requests)
        XCTAssertEqual(got.filter { $0 == "alert 1" }.count, 1, "a refused alert is not retried: \(got)")
        XCTAssertTrue(got.contains { $0.hasPrefix("1 alert(s) were not delivered") }, "the refusal is reported to the receiver: \(got)")
        // a 503 is the receiver's trouble, not a refusal: retried until taken
        r.set(.answer(503))
        sink.submit(alert(3))
        XCTAssertTrue(eventually { messages(r.requests).filter { $0 == "alert 3" }.count >= 2 }, "a 503 is retried")
        XCTAssertEqual(sink.health().dropped, 1)
        r.set(.answer(200))
        XCTAssertTrue(eventually { sink.health().sent == 2 }, "\(sink.health())")
    }

    func testBatchesAreJSONLinesAndChunkedAnswersKeepTheConnection() throws {
        let p = port()
        let r = try WebhookReceiver(port: p, mode: .chunked(200))
        defer { r.stop() }
        let sink = HTTPSink(destination: try HTTPDestination(parsing: "http://127.0.0.1:\(p)/in,format=falco,batch=3"), options: options(capacity: 100))
        defer { sink.close(timeout: 1) }
        for i in 0..<7 { sink.submit(alert(i)) }
        XCTAssertTrue(eventually { sink.health().sent == 7 }, "\(sink.health())")
        let lines = r.requests.flatMap { $0.body.split(separator: "\n") }
        XCTAssertEqual(lines.count, 7)
        XCTAssertEqual(r.connections, 1, "each chunked answer was read to its end, so the next request went on the same connection")
        XCTAssertTrue(r.requests.allSatisfy { $0.body.split(separator: "\n").count <= 3 && $0.headers["content-type"] == "application/x-ndjson" })
        for l in lines {
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any])
            XCTAssertEqual(o["priority"] as? String, "Error") // Falco's spelling for a high finding
            XCTAssertEqual(o["rule"] as? String, "persist.cron")
            XCTAssertFalse((o["output_fields"] as? [String: Any] ?? [:]).isEmpty)
        }
    }

    func testBadDestinationsSayWhatIsWrong() {
        for (bad, says) in [("ftp://x/", "expected http://"), ("http://h/,batch=0", "batch=0"), ("http://h/,format=xml", "unknown format xml"),
                            ("http://h/,ca=/x", "unknown option `ca=`"), ("http://h:99999/", "bad port"), ("http:///p", "no host"), ("http://h/,batch", "not KEY=VALUE")] {
            XCTAssertThrowsError(try HTTPDestination(parsing: bad), bad) { XCTAssertTrue("\($0)".contains(says), "\(bad): \($0)") }
        }
        let d = try? HTTPDestination(parsing: "https://[::1]/a/b,ca=/etc/ssl/ca.pem,name=collector")
        XCTAssertEqual(d?.port, 443)
        XCTAssertEqual(d?.path, "/a/b")
        XCTAssertEqual(d?.tls.caFile, "/etc/ssl/ca.pem")
        XCTAssertEqual(d?.description, "https://[::1]:443/a/b")
    }
}
