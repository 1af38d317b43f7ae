import Foundation
import TetherCore

/// Drains the probe's ring buffer on a thread of its own (never on Swift's cooperative
/// pool) and hands each decoded event, in ring-buffer order, to `sink` on that thread.
public final class EventReader: @unchecked Sendable {
    public let probe: Probe
    private let sink: (inout Event) -> Void
    private let onCorrupt: (RecordDecoder.Failure) -> Void
    private let lock = NSLock()
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    /// Poll timeout: the longest a record below the wakeup threshold waits.
    public var pollTimeoutMs: Int32 = 2
    public private(set) var decoded: UInt64 = 0
    public private(set) var corrupt: UInt64 = 0
    public private(set) var pollError: ProbeError?
    /// Completed polls: a watchdog sees the reader is alive when this keeps growing.
    public var turns: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return polls
    }
    private var polls: UInt64 = 0

    public init(probe: Probe, sink: @escaping (inout Event) -> Void,
                onCorrupt: @escaping (RecordDecoder.Failure) -> Void = { _ in }) {
        self.probe = probe
        self.sink = sink
        self.onCorrupt = onCorrupt
        probe.setRecordHandler { [unowned self] buf in self.handle(buf) }
    }

    private func handle(_ buf: UnsafeRawBufferPointer) {
        do {
            var e = try RecordDecoder.decode(buf)
            decoded += 1
            sink(&e)
        } catch let f as RecordDecoder.Failure {
            corrupt += 1
            onCorrupt(f)
        } catch {
            corrupt += 1
        }
    }

    public func start() {
        let t = Thread { [self] in run() }
        t.name = "tether-reader"
        thread = t
        t.start()
    }

    private func run() {
        defer { done.signal() }
        while true {
            lock.lock()
            let stop = stopping
            lock.unlock()
            do {
                try probe.poll(timeoutMs: stop ? 0 : pollTimeoutMs)
            } catch let e as ProbeError {
                pollError = e
                return
            } catch {
                return
            }
            if stop { return } // one last drain after the stop request
            lock.lock()
            polls &+= 1
            let turn = polls
            lock.unlock()
            if turn % 256 == 0 { releaseHeldAfterLoss() }
        }
    }

    /// A lost record may be a held member's (TE_GUARD_HELD), which nobody would then
    /// continue: after any loss, every held-capable member is continued (a member that was
    /// not stopped ignores SIGCONT; a frozen session stays frozen).
    private var dropsSeen: UInt64 = 0
    private func releaseHeldAfterLoss() {
        guard let s = try? probe.stats(), s.lost > dropsSeen else { return }
        dropsSeen = s.lost
        probe.releaseHeld()
    }

    /// Drains what is left and stops the thread; returns once it has exited.
    public func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        if thread != nil { done.wait() }
        thread = nil
    }

    /// Drains synchronously on the calling thread (when no reader thread runs).
    public func drain() throws {
        while try probe.poll(timeoutMs: 0) > 0 {}
    }
}
