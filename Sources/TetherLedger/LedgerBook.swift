import Foundation
import TetherCore
import TetherExport

/// The ledgers of every session a pipeline follows, one file each under
/// `directory/<session>/ledger.jsonl`: what the session's processes really did, from the
/// kernel's events (see README, "Session ledger"). Fed by the pipeline; thread-safe.
public final class LedgerBook: @unchecked Sendable {
    public struct Options: Sendable {
        public var directory: String
        /// Bytes per session's ledger, the closing entries included.
        public var capBytes: UInt64 = 64 << 20
        /// Ended sessions' ledgers older than this are removed (seconds; 0: kept).
        public var keepSeconds: Double = 30 * 86_400
        /// Ended sessions' ledgers beyond this total are removed, oldest first (0: no limit).
        public var keepBytes: UInt64 = 1 << 30
        public init(directory: String) { self.directory = directory }
    }

    /// What the pipeline knows of a session when the ledger first sees it.
    public struct SessionInfo: Sendable {
        public var root: Int32
        public var agent: String
        public var label: String?
        public var workspace: String?
        public var confined: Bool
        public init(root: Int32, agent: String, label: String?, workspace: String?, confined: Bool) {
            self.root = root
            self.agent = agent
            self.label = label
            self.workspace = workspace
            self.confined = confined
        }
    }

    public let options: Options
    /// The pipeline's own knowledge of a session (called outside the pipeline's lock).
    public var describe: (SessionID) -> SessionInfo? = { _ in nil }
    /// Events the kernel lost host-wide so far (ring buffer full), if known.
    public var lostEvents: () -> UInt64? = { nil }
    public var log: (String) -> Void = { _ in }
    /// A session's ledger directory was just made (tetherd puts it under the tamper guard:
    /// the guard plan's walk of Tether's state directory cannot know directories made later).
    public var onDirectory: (String) -> Void = { _ in }

    private let lock = NSLock()
    private var open: [SessionID: SessionLedger] = [:]
    /// Sessions whose ledger could not be created (said once, not retried per event), and
    /// sessions whose ledger is closed (a late event does not reopen it). Bounded.
    private var failed: Set<SessionID> = []
    private var closed: Set<SessionID> = []

    public init(_ options: Options) throws {
        self.options = options
        try LedgerStore.makeDirectory(options.directory)
        LedgerStore.prune(options, keeping: [])
    }

    /// A session known before its first event (`tether run` starts it): its ledger is made
    /// now, before the session's first instruction, so none of its processes finds it unguarded.
    public func begin(_ session: SessionID) {
        lock.lock()
        defer { lock.unlock() }
        _ = ledger(session)
    }

    /// One event of a session. Most events (reads, closes) are not ledger entries and
    /// return at the first test.
    public func observe(_ e: Event) {
        guard SessionLedger.records(e) else { return }
        lock.lock()
        defer { lock.unlock() }
        ledger(e.session)?.observe(e)
    }

    /// A finding or one of Tether's own alerts about the session.
    public func alert(_ a: AlertRecord, session: SessionID, time: UInt64 = BootClock.nanoseconds()) {
        lock.lock()
        defer { lock.unlock() }
        ledger(session)?.finding(a, time: time)
    }

    /// The root has exited and the grace period has passed (or every member is gone): what
    /// the session left behind is checked and written with the summary. Returns the
    /// session-end alert carrying the chain's head (nil if already settled or no ledger).
    public func settle(_ session: SessionID, members: [ProcessRecord], time: UInt64 = BootClock.nanoseconds()) -> AlertRecord? {
        lock.lock()
        defer { lock.unlock() }
        guard let l = open[session], !l.settled else { return nil }
        return l.settle(members: members, lost: lostEvents(), time: time)
    }

    /// The session is over for the ledger (its last member exited, or `tether run` ends):
    /// settled first if it was not, then closed. Returns the session-end alert if settling
    /// happened now.
    public func close(_ session: SessionID, reason: String, members: [ProcessRecord] = [], time: UInt64 = BootClock.nanoseconds()) -> AlertRecord? {
        lock.lock()
        guard let l = open.removeValue(forKey: session) else { lock.unlock(); return nil }
        if closed.count >= 4096 { closed.removeAll() }
        closed.insert(session)
        let alert = l.settled ? nil : l.settle(members: members, lost: lostEvents(), time: time)
        l.close(reason: reason, time: time)
        lock.unlock()
        if let f = l.failure { log("session \(session): ledger: \(f)") }
        return alert
    }

    /// Prunes ended sessions' ledgers (age, total size) if the last pruning was a while ago:
    /// a directory listing per session end would cost more than the sessions themselves.
    public func pruneIfDue(now: UInt64 = BootClock.nanoseconds()) {
        lock.lock()
        let due = now >= lastPrune + LedgerBook.pruneInterval
        if due { lastPrune = now }
        lock.unlock()
        if due { LedgerStore.prune(options, keeping: openSessions()) }
    }
    private var lastPrune: UInt64 = BootClock.nanoseconds()
    static let pruneInterval: UInt64 = 600_000_000_000 // 10 minutes

    /// Sessions whose root exited at least `grace` seconds before `now` and that are not
    /// settled yet.
    public func due(now: UInt64, grace: (SessionID) -> Double) -> [SessionID] {
        lock.lock()
        defer { lock.unlock() }
        return open.compactMap { id, l in
            guard !l.settled, let t = l.rootExit else { return nil }
            return now >= t && Double(now - t) / 1e9 >= grace(id) ? id : nil
        }
    }

    public func flush() {
        lock.lock()
        for l in open.values { l.flush() }
        lock.unlock()
    }

    public func openSessions() -> Set<SessionID> {
        lock.lock()
        defer { lock.unlock() }
        return Set(open.keys)
    }

    /// The ledger of `session`, created at its first entry. Under `lock`.
    private func ledger(_ session: SessionID) -> SessionLedger? {
        if let l = open[session] { return l }
        guard !failed.contains(session), !closed.contains(session) else { return nil }
        lock.unlock()
        let info = describe(session)
        lock.lock()
        if let l = open[session] { return l } // made meanwhile
        do {
            let l = try SessionLedger(session: session, info: info, options: options, lost: lostEvents(), made: onDirectory)
            open[session] = l
            return l
        } catch {
            failed.insert(session)
            if failed.count > 4096 { failed.removeAll() }
            log("session \(session): no ledger: \(error)")
            return nil
        }
    }
}
