/// What Tether knows of one process of a session.
public struct ProcessRecord: Sendable, Equatable {
    public var pid: Int32
    public var ppid: Int32
    public var session: SessionID
    public var exe: String
    public var argv: [String]
    public var cwd: String
    public var comm: String
    /// What the kernel said of the executable at the exec (nil: an exec Tether did not see).
    public var exeOwner: UInt32?
    public var exeMode: UInt32?
    /// A #! script the kernel exec'd (its interpreter is `exe`), as the caller named it,
    /// made absolute against the cwd of the exec.
    public var script: String?
    /// Variables of the exec's environment that put code of the caller's choosing into the
    /// program: the loader's (LD_PRELOAD, …) and interpreters' (PYTHONPATH, …). Set, non-empty.
    public var injected: [String] = []
    /// Boot-time ns of the fork (or of the first sighting).
    public var startTime: UInt64
    public var exited: Bool = false
    public var exitTime: UInt64?

    public init(pid: Int32, ppid: Int32, session: SessionID, exe: String = "", argv: [String] = [],
                cwd: String = "", comm: String = "", startTime: UInt64 = 0) {
        self.pid = pid
        self.ppid = ppid
        self.session = session
        self.exe = exe
        self.argv = argv
        self.cwd = cwd
        self.comm = comm
        self.startTime = startTime
    }
}

/// pid -> process, kept right through fork, exec, exit and pid reuse. Exited processes
/// stay visible (for ancestry of late events) until `retainExited` newer exits push them out.
public final class ProcessTable {
    public private(set) var live: [Int32: ProcessRecord] = [:]
    /// Live processes per session: a session whose count falls to 0 has ended.
    private var liveBySession: [SessionID: Int] = [:]
    private var exited: [Int32: ProcessRecord] = [:]
    private var exitOrder: [Int32] = []
    private var exitHead = 0
    public let retainExited: Int
    /// Fills in a process seen for the first time without its fork (e.g. `tether watch`).
    public var resolver: ((Int32) -> ProcessRecord?)?

    public init(retainExited: Int = 4096) { self.retainExited = retainExited }

    public var count: Int { live.count }

    /// How many live processes of `session` the table knows.
    public func liveCount(_ session: SessionID) -> Int { liveBySession[session] ?? 0 }

    /// Every change to `live` goes through these two, which keep `liveBySession` exact.
    private func setLive(_ p: ProcessRecord) {
        if let old = live.updateValue(p, forKey: p.pid) {
            if old.session == p.session { return }
            drop(old.session)
        }
        liveBySession[p.session, default: 0] += 1
    }

    private func removeLive(_ pid: Int32) {
        if let old = live.removeValue(forKey: pid) { drop(old.session) }
    }

    private func drop(_ session: SessionID) {
        let n = (liveBySession[session] ?? 1) - 1
        liveBySession[session] = n > 0 ? n : nil
    }

    public func lookup(_ pid: Int32) -> ProcessRecord? { live[pid] ?? exited[pid] }

    /// Adds a process that was already running (tracked after the fact).
    public func insert(_ info: ProcessRecord) {
        exited[info.pid] = nil
        setLive(info)
    }

    /// Updates the table from an event and fills the event's `exe`.
    public func apply(_ e: inout Event) {
        switch e.kind {
        case .fork:
            guard let child = e.target, e.succeeded else { break }
            // a deputy's child joins the session; the deputy itself is no member
            let parent = e.adoptedFrom == nil ? known(e.pid, e)
                : live[e.pid] ?? resolver?(e.pid) ?? ProcessRecord(pid: e.pid, ppid: e.ppid, session: e.session, comm: e.comm, startTime: e.time)
            // the child runs the parent's image: its executable, script and environment's facts
            var info = parent
            info.pid = child
            info.ppid = e.pid
            info.session = e.session
            info.startTime = e.time
            info.exitTime = nil
            info.exited = false
            exited[child] = nil // pid reuse: the new process replaces the old record
            setLive(info)
            e.exe = parent.exe
        case .exec where e.succeeded:
            var info = known(e.pid, e)
            info.exe = e.path ?? info.exe
            info.argv = e.argv ?? []
            info.cwd = e.cwd ?? info.cwd
            info.comm = e.comm
            info.ppid = e.ppid
            info.session = e.session
            info.exeOwner = e.exeOwner
            info.exeMode = e.exeMode
            info.script = e.script ? e.requested.map { $0.hasPrefix("/") ? Paths.normalize($0) : Paths.join(e.cwd ?? "/", $0) } : nil
            info.injected = ExecEnvironment.injected(e.env ?? [])
            // what could not be read may hold LD_PRELOAD: the program is not trusted then
            if e.envIncomplete || e.envCut { info.injected.append(ExecEnvironment.unread) }
            setLive(info)
            e.exe = info.exe
        case .exit:
            var info = known(e.pid, e)
            e.exe = info.exe
            info.exited = true
            info.exitTime = e.time
            removeLive(e.pid)
            remember(info)
        default:
            let info = known(e.pid, e)
            e.exe = info.exe
        }
    }

    /// The process and its ancestors inside the table, nearest first (at most `limit`).
    public func ancestry(_ pid: Int32, limit: Int = 32) -> [ProcessRecord] {
        var out: [ProcessRecord] = []
        var seen = Set<Int32>()
        var cur = pid
        while out.count < limit, !seen.contains(cur), let p = lookup(cur) {
            out.append(p)
            seen.insert(cur)
            cur = p.ppid
        }
        return out
    }

    /// Live members of a session.
    public func members(of session: SessionID) -> [ProcessRecord] {
        live.values.filter { $0.session == session }.sorted { $0.pid < $1.pid }
    }

    private func known(_ pid: Int32, _ e: Event) -> ProcessRecord {
        if let p = live[pid] { return p }
        var p = resolver?(pid) ?? ProcessRecord(pid: pid, ppid: e.ppid, session: e.session, comm: e.comm, startTime: e.time)
        p.session = e.session
        setLive(p)
        return p
    }

    private func remember(_ info: ProcessRecord) {
        exited[info.pid] = info
        if exitOrder.count < retainExited {
            exitOrder.append(info.pid)
        } else {
            let old = exitOrder[exitHead]
            if let o = exited[old], o.exitTime ?? 0 <= info.exitTime ?? 0, old != info.pid { exited[old] = nil }
            exitOrder[exitHead] = info.pid
            exitHead = (exitHead + 1) % retainExited
        }
    }
}
