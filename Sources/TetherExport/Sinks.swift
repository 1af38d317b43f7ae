import Foundation

/// Health of one sink, as `tether status` and the metrics show it.
public struct SinkHealth: Codable, Sendable, Equatable {
    public var name: String
    /// `up`, `down` (retrying with backoff), or `closed`.
    public var state: String
    public var queued: Int
    public var sent: UInt64
    /// Alerts this sink could not deliver, ever (queue full, refused, left at shutdown).
    public var dropped: UInt64
    public var lastError: String?
    public init(name: String, state: String, queued: Int, sent: UInt64, dropped: UInt64, lastError: String?) {
        self.name = name
        self.state = state
        self.queued = queued
        self.sent = sent
        self.dropped = dropped
        self.lastError = lastError
    }
}

/// Where alerts go. `submit` never blocks and never throws: a sink that cannot deliver
/// counts what it lost and says so.
public protocol AlertSink: AnyObject {
    var name: String { get }
    func submit(_ alert: AlertRecord)
    func health() -> SinkHealth
    /// Delivers what is queued, waiting at most `timeout`; then stops. Returns what was left undelivered.
    @discardableResult func close(timeout: TimeInterval) -> Int
    /// Re-open files (after log rotation); no-op for network sinks.
    func reopen()
}

extension AlertSink {
    public func reopen() {}
}

/// What a queued sink's transport says about one delivery.
enum Delivery: Equatable {
    case sent
    /// The receiver cannot take it just now (a full datagram buffer): try again soon.
    case busy
    /// The connection is unusable (reconnect, with backoff); `lost` alerts of the batch are
    /// known not to have arrived and will not be sent again (a refused datagram).
    case failed(String, lost: Int)
    /// The receiver answered that it will never take these (HTTP 400): dropped and counted.
    case rejected(String)
}

/// A receiver's connection as a queued sink drives it.
protocol SinkTransport: AnyObject {
    /// (Re)connects; throws why not.
    func open() throws
    /// Drops the connection (the next delivery reconnects).
    func drop()
    /// Delivers `alerts` in order (as many as `batch` allows), over the open connection.
    func deliver(_ alerts: ArraySlice<AlertRecord>) -> Delivery
    /// How many queued alerts one delivery may carry.
    var batch: Int { get }
}

/// A sink with a bounded queue and a sender thread of its own: a receiver that is down or
/// slow costs queue slots, then counted drops, never a blocked detection path. Once the
/// receiver is back, the sink first sends a `tether.alerts_dropped` alert saying how many
/// were lost.
public class QueuedSink: AlertSink, @unchecked Sendable {
    public struct Options: Sendable {
        public var capacity = 1024
        public var initialBackoff: TimeInterval = 0.1
        public var maxBackoff: TimeInterval = 5
        public var connectTimeout: TimeInterval = 2
        /// A send (and, for HTTP, the wait for the answer) never takes longer.
        public var sendTimeout: TimeInterval = 2
        public init() {}
    }

    public let name: String
    let options: Options
    private let transport: SinkTransport
    /// What the drop report says the alerts were not delivered to.
    private let target: String
    /// Called on the sender thread when the sink goes down or comes back (for the daemon's log).
    private let onStateChange: (String) -> Void

    private let cond = NSCondition()
    private var queue: [AlertRecord] = []
    private var head = 0
    private var stopping = false
    private var deadline: Date?
    private var state = "connecting"
    private var sent: UInt64 = 0
    private var dropped: UInt64 = 0
    /// Dropped since the last report the receiver got.
    private var unreported: UInt64 = 0
    private var lastError: String?
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    init(name: String, target: String, transport: SinkTransport, options: Options, onStateChange: @escaping (String) -> Void) {
        self.name = name
        self.target = target
        self.transport = transport
        self.options = options
        self.onStateChange = onStateChange
        // The thread holds the sink until close(): an alert queued is never orphaned.
        let t = Thread { [self] in self.run() }
        t.name = "tether-sink"
        thread = t
        t.start()
    }

    private var count: Int { queue.count - head }

    public func submit(_ alert: AlertRecord) {
        cond.lock()
        defer { cond.unlock() }
        if stopping || count >= options.capacity {
            dropped += 1
            unreported += 1
            return
        }
        queue.append(alert)
        cond.signal()
    }

    public func health() -> SinkHealth {
        cond.lock()
        defer { cond.unlock() }
        return SinkHealth(name: name, state: state, queued: count, sent: sent, dropped: dropped, lastError: lastError)
    }

    @discardableResult
    public func close(timeout: TimeInterval) -> Int {
        cond.lock()
        stopping = true
        deadline = Date().addingTimeInterval(timeout)
        cond.broadcast()
        cond.unlock()
        if thread != nil { finished.wait() }
        thread = nil
        cond.lock()
        defer { cond.unlock() }
        let left = count
        dropped += UInt64(left)
        unreported += UInt64(left)
        queue.removeAll()
        head = 0
        state = "closed"
        return left
    }

    /// Waits `seconds`, or less if a stop is requested.
    private func pause(_ seconds: TimeInterval) {
        cond.lock()
        if !stopping {
            _ = cond.wait(until: Date().addingTimeInterval(seconds))
            cond.unlock()
        } else {
            cond.unlock()
            usleep(UInt32(min(seconds, 0.1) * 1e6)) // draining before exit: keep retrying, briefly
        }
    }

    private func pastDeadline() -> Bool {
        guard stopping, let d = deadline else { return false }
        return Date() >= d
    }

    private func run() {
        defer { transport.drop(); finished.signal() }
        var connected = false
        var backoff = options.initialBackoff
        var wasUp = false
        // Connect at once, so `tether status` tells a reachable receiver from a missing one
        // before the first alert.
        do {
            try transport.open()
            connected = true
            cond.lock()
            state = "up"
            cond.unlock()
            wasUp = true
        } catch {
            markDown("\(error)", announce: true)
        }
        func retryLater(_ why: String) {
            transport.drop()
            connected = false
            markDown(why, announce: wasUp)
            wasUp = false
            pause(backoff)
            backoff = min(backoff * 2, options.maxBackoff)
        }
        while true {
            cond.lock()
            while count == 0 && !stopping { cond.wait() }
            if (count == 0 && stopping) || pastDeadline() { cond.unlock(); return }
            let batch = queue[head..<min(queue.count, head + max(1, transport.batch))]
            let owed = unreported
            cond.unlock()

            if !connected {
                do {
                    try transport.open()
                    connected = true
                } catch {
                    markDown("\(error)", announce: wasUp || lastErrorIsNil())
                    wasUp = false
                    pause(backoff)
                    backoff = min(backoff * 2, options.maxBackoff)
                    continue
                }
            }
            if owed > 0 {
                switch transport.deliver([dropReport(owed)][...]) {
                case .sent, .rejected:
                    cond.lock()
                    unreported -= owed // the report itself is not counted as a sent alert
                    cond.unlock()
                case .busy:
                    pause(0.05)
                    continue
                case .failed(let why, let lost):
                    countLost(lost) // an earlier datagram; the report itself is sent again
                    retryLater(why)
                    continue
                }
            }
            switch transport.deliver(batch) {
            case .sent:
                cond.lock()
                head += batch.count
                if head > 4096 && head * 2 > queue.count { queue.removeFirst(head); head = 0 }
                sent += UInt64(batch.count)
                let cameBack = state != "up"
                state = "up"
                lastError = nil
                cond.unlock()
                if cameBack {
                    onStateChange("\(name): delivering" + (owed > 0 ? "; reported \(owed) dropped alert(s) to the receiver" : ""))
                }
                wasUp = true
                backoff = options.initialBackoff
            case .busy:
                pause(0.05)
            case .rejected(let why):
                cond.lock()
                head += batch.count
                dropped += UInt64(batch.count)
                unreported += UInt64(batch.count)
                lastError = why
                cond.unlock()
                onStateChange("\(name): the receiver rejected \(batch.count) alert(s) (\(why)); counted as dropped")
            case .failed(let why, let lost):
                countLost(lost)
                retryLater(why)
            }
        }
    }

    /// Alerts known lost (an earlier datagram refused): counted, not sent again.
    private func countLost(_ lost: Int) {
        guard lost > 0 else { return }
        cond.lock()
        dropped += UInt64(lost)
        unreported += UInt64(lost)
        cond.unlock()
    }

    private func lastErrorIsNil() -> Bool {
        cond.lock()
        defer { cond.unlock() }
        return lastError == nil
    }

    private func markDown(_ why: String, announce: Bool) {
        cond.lock()
        let changed = state != "down" || lastError != why
        state = "down"
        lastError = why
        let queued = count
        cond.unlock()
        if announce || changed {
            onStateChange("\(name): receiver unreachable (\(why)); \(queued) alert(s) queued, retrying with backoff")
        }
    }

    private func dropReport(_ n: UInt64) -> AlertRecord {
        AlertRecord(rule: "tether.alerts_dropped", severity: .high,
                    message: "\(n) alert(s) were not delivered to \(target) while it was unreachable, too slow (queue of \(options.capacity) full) or refusing them; see the JSON alert log for all alerts",
                    action: "alert", details: ["dropped": String(n), "destination": target])
    }
}

/// Syslog over a unix socket, UDP, TCP or TLS (RFC 5425), queued (see `QueuedSink`).
public final class SyslogSink: QueuedSink, @unchecked Sendable {
    public let destination: SyslogDestination
    public let format: SyslogFormat

    public init(destination: SyslogDestination, format: SyslogFormat, options: Options = Options(),
                onStateChange: @escaping (String) -> Void = { _ in }) {
        self.destination = destination
        self.format = format
        super.init(name: "syslog \(destination)", target: destination.description,
                   transport: SyslogTransport(destination: destination, format: format, options: options),
                   options: options, onStateChange: onStateChange)
    }
}

final class SyslogTransport: SinkTransport {
    let destination: SyslogDestination
    let format: SyslogFormat
    let options: QueuedSink.Options
    private var socket: SyslogSocket?
    let batch = 1

    init(destination: SyslogDestination, format: SyslogFormat, options: QueuedSink.Options) {
        self.destination = destination
        self.format = format
        self.options = options
    }

    func open() throws {
        socket = try SyslogSocket.connect(destination, timeout: options.connectTimeout, sendTimeout: options.sendTimeout)
    }

    func drop() { socket = nil }

    func deliver(_ alerts: ArraySlice<AlertRecord>) -> Delivery {
        guard let s = socket, let a = alerts.first else { return .failed("not connected", lost: 0) }
        switch s.send(format.format(a)) {
        case .sent: return .sent
        case .busy: return .busy
        // the ICMP error is about a datagram that already left: it was lost
        case .failed(let why, let refused): return .failed(why, lost: refused ? 1 : 0)
        }
    }
}

/// JSON lines to a file, one alert per line, flushed per alert. `reopen` follows log rotation.
public final class JSONLinesSink: AlertSink, @unchecked Sendable {
    public let name: String
    public let path: String
    private let lock = NSLock()
    private var fd: Int32 = -1
    private var sent: UInt64 = 0
    private var dropped: UInt64 = 0
    private var lastError: String?

    public let format: AlertFormat

    public init(path: String, format: AlertFormat = .tether) throws {
        self.path = path
        self.format = format
        name = format == .tether ? "json \(path)" : "json \(path) (\(format.rawValue))"
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw ExportError("cannot open \(path) for appending alerts: \(String(cString: strerror(errno)))")
        }
    }

    /// One alert, one write(2) of its whole line. A write that fails part-way (the disk is
    /// full) is taken back, so the file never holds half a line for the next alert to be
    /// glued to; once writes succeed again the sink is up again.
    public func submit(_ alert: AlertRecord) {
        let bytes = Array((format.encode(alert) + "\n").utf8)
        lock.lock()
        defer { lock.unlock() }
        guard fd >= 0 else { dropped += 1; return }
        let start = lseek(fd, 0, SEEK_END)
        var off = 0
        var err: Int32 = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { err = n < 0 ? errno : ENOSPC; break }
            off += n
        }
        if off == bytes.count {
            sent += 1
            lastError = nil
            return
        }
        if off > 0 && start >= 0 { _ = ftruncate(fd, start) }
        dropped += 1
        lastError = "writing \(path): \(String(cString: strerror(err)))"
    }

    public func health() -> SinkHealth {
        lock.lock()
        defer { lock.unlock() }
        return SinkHealth(name: name, state: fd < 0 ? "closed" : (lastError == nil ? "up" : "failing"), queued: 0,
                          sent: sent, dropped: dropped, lastError: lastError)
    }

    public func reopen() {
        lock.lock()
        defer { lock.unlock() }
        if fd >= 0 { Glibc.close(fd) }
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        lastError = fd < 0 ? "reopening \(path): \(String(cString: strerror(errno)))" : nil
    }

    @discardableResult
    public func close(timeout: TimeInterval) -> Int {
        lock.lock()
        defer { lock.unlock() }
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        return 0
    }
}

/// Fans each alert out to every sink, keeps the most recent ones for `tether alerts`, and
/// feeds followers. `publish` never blocks on a sink.
public final class AlertHub: @unchecked Sendable {
    public private(set) var sinks: [AlertSink]
    private let lock = NSLock()
    private var recent: [AlertRecord] = []
    private let keep: Int
    private var followers: [Int: (AlertRecord) -> Void] = [:]
    private var nextFollower = 0
    public private(set) var total: UInt64 = 0
    public private(set) var byRule: [String: UInt64] = [:]

    public init(sinks: [AlertSink], keep: Int = 1000) {
        self.sinks = sinks
        self.keep = keep
    }

    public func publish(_ a: AlertRecord) {
        lock.lock()
        total += 1
        byRule[a.rule, default: 0] += 1
        recent.append(a)
        if recent.count > keep { recent.removeFirst(recent.count - keep) }
        let fs = Array(followers.values)
        lock.unlock()
        for s in sinks { s.submit(a) }
        for f in fs { f(a) }
    }

    public func recentAlerts(limit: Int) -> [AlertRecord] {
        lock.lock()
        defer { lock.unlock() }
        return Array(recent.suffix(limit))
    }

    public func counts() -> (total: UInt64, byRule: [String: UInt64]) {
        lock.lock()
        defer { lock.unlock() }
        return (total, byRule)
    }

    /// `fn` runs on the publisher's thread: it must not block.
    public func follow(_ fn: @escaping (AlertRecord) -> Void) -> Int {
        lock.lock()
        defer { lock.unlock() }
        nextFollower += 1
        followers[nextFollower] = fn
        return nextFollower
    }

    public func unfollow(_ id: Int) {
        lock.lock()
        followers[id] = nil
        lock.unlock()
    }

    public func health() -> [SinkHealth] { sinks.map { $0.health() } }

    public func reopen() { for s in sinks { s.reopen() } }

    /// Flushes and stops every sink; returns what each left undelivered (by name), if anything.
    public func close(timeout: TimeInterval) -> [(String, Int)] {
        sinks.compactMap { s in
            let left = s.close(timeout: timeout)
            return left > 0 ? (s.name, left) : nil
        }
    }
}
