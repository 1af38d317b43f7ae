import Foundation
import TetherCore
import TetherExport
import TetherLedger
import TetherProbe
import TetherResponse

/// The one path every event takes, whichever front end reads it (tetherd, `tether run`,
/// `tether watch`, `tether replay`, the benchmark consumers):
///
///   host lookups (live events only) → agent → process table → classifier → responder → alerts
///                                                              ↘ session ledger (if attached)
///
/// It owns the session state (the registry the classifier judges with, handed on across
/// policy reloads) and the kernel's agent slots, so every stage sees the agent the kernel
/// is enforcing for a session: the one the record names, never one guessed again here.
/// Thread-safe: the reader thread feeds `handle`, a timer `tick`, a reload `swap`.
public final class Pipeline: @unchecked Sendable {
    /// Where the events come from. Only a live host's events get host lookups (the
    /// directory of an unresolved destination, /proc for a process first seen mid-life):
    /// a recording replayed on another host must not be judged by that host's files.
    public enum Source: Sendable { case live, recorded }

    public let source: Source
    public let table = ProcessTable()
    public let sessions = SessionRegistry()
    /// The policy in force (read under the lock: a reload swaps it from another thread).
    public var policy: Policy {
        lock.lock()
        defer { lock.unlock() }
        return current
    }
    private var current: Policy
    public private(set) var slots: AgentSlots
    /// Agent name by slot (`AgentSlots.names`).
    private var slotNames: [String]
    private var classifier: Classifier
    /// Carries out findings in enforce mode; nil: findings are only reported (replay, bench).
    public let responder: Responder?
    /// Where alerts go: tetherd's sinks, `tether run`'s alerts file and stderr, replay's stdout.
    private let publish: (AlertRecord) -> Void
    /// Each event once the table has filled it in and the classifier has judged it (event
    /// JSON output, streams to `tether run`). On the reader thread: must not block.
    public var onEvent: ((Event) -> Void)?
    /// An exec that started a session, and a session root's exit (for a front end's log).
    public var onSessionStart: ((Event) -> Void)?
    public var onRootExit: ((Event) -> Void)?
    /// Where the classifier's own problems go (a rule that failed, an unknown agent).
    public var log: (String) -> Void {
        didSet { classifier.log = log }
    }
    public var protectedPids: Set<Int32> {
        didSet { classifier.protectedPids = protectedPids }
    }

    /// Each session's ledger (nil: none is kept, e.g. replay and benchmarks); see `attach`.
    public private(set) var ledger: LedgerBook?

    private let lock = NSLock()
    /// Findings of one session are carried out one at a time (the reader and the timer both
    /// produce them), so the second sees what the first did.
    private let responseLock = NSLock()
    public private(set) var events: UInt64 = 0
    public private(set) var findings: UInt64 = 0

    public init(policy: Policy, slots: AgentSlots? = nil, source: Source, responder: Responder?,
                protectedPids: Set<Int32> = [], publish: @escaping (AlertRecord) -> Void) {
        current = policy
        let slots = slots ?? AgentSlots([0: AgentSlots.Slot(name: policy.defaults.name)])
        self.slots = slots
        slotNames = slots.names(defaults: policy.defaults.name)
        self.source = source
        self.responder = responder
        self.publish = publish
        self.protectedPids = protectedPids
        let log: (String) -> Void = { msg in FileHandle.standardError.write(Data("tether classifier: \(msg)\n".utf8)) }
        self.log = log
        classifier = Pipeline.classifier(policy, sessions: sessions, protectedPids: protectedPids, log: log, source: source)
        if source == .live {
            table.resolver = { pid in ProcFS.info(pid, session: SessionID(0)) }
            // what Claude Code's state holds before any session writes it
            sessions.agentState.seed(homes: GuardPlan.homeDirectories(), read: Pipeline.agentState)
        }
    }

    /// The MCP servers that run a command in a `~/.claude.json`, read now; never through a
    /// symlink at its last component (a link planted there names a file of the agent's
    /// choosing, which Claude Code follows): that, and what is too large or not JSON, cannot
    /// be judged.
    static func agentState(_ path: String) -> ClaudeState.Reading {
        var st = stat()
        guard lstat(path, &st) == 0 else { return errno == ENOENT ? .absent : .unjudgeable(String(cString: strerror(errno))) }
        guard st.st_mode & S_IFMT == S_IFREG else { return .unjudgeable(st.st_mode & S_IFMT == S_IFLNK ? "a symlink" : "not a regular file") }
        guard st.st_size <= ClaudeState.readLimit else { return .unjudgeable("larger than \(ClaudeState.readLimit >> 20) MiB") }
        guard let bytes = HostFiles.read(path, max: ClaudeState.readLimit + 1, noFollow: true) else { return .unjudgeable("unreadable") }
        return bytes.count > ClaudeState.readLimit ? .unjudgeable("larger than \(ClaudeState.readLimit >> 20) MiB") : ClaudeState.reading(bytes)
    }

    /// Takes what Claude Code's state holds in these homes before the session runs (the
    /// homes of the environment `tether run` launches an agent with).
    public func seedAgentState(homes: [String]) {
        guard source == .live else { return }
        sessions.agentState.seed(homes: homes, read: Pipeline.agentState)
    }

    private static func classifier(_ policy: Policy, sessions: SessionRegistry, protectedPids: Set<Int32>,
                                   log: @escaping (String) -> Void, source: Source) -> Classifier {
        let c = Classifier(policy: policy, sessions: sessions)
        c.protectedPids = protectedPids
        c.log = log
        // what a file holds is this host's fact: never for a recording
        if source == .live {
            c.credentialContent = CredentialContent.shared.holds
            c.agentState = Pipeline.agentState
        }
        return c
    }

    /// Keeps a ledger of every session from now on (what the pipeline knows of a session is
    /// its first entry).
    public func attach(ledger: LedgerBook) {
        ledger.describe = { [weak self] id in
            guard let self else { return nil }
            self.lock.lock()
            defer { self.lock.unlock() }
            guard let s = self.sessions[id] else { return nil }
            return LedgerBook.SessionInfo(root: s.rootPid, agent: s.agent.name, label: s.label, workspace: s.workspacePath, confined: s.confined)
        }
        self.ledger = ledger
    }

    /// The session is over for its ledger (`tether run` ends): settled with what is still
    /// alive, closed, and the session-end alert (the chain's head) raised.
    public func closeLedger(_ session: SessionID, reason: String) {
        guard let ledger else { return }
        lock.lock()
        let members = table.members(of: session)
        lock.unlock()
        if let a = ledger.close(session, reason: reason, members: members) { publish(a) }
    }

    /// Test and benchmark hook: how the classifier finds a uid's home.
    public func setHomeDirectory(_ fn: @escaping (UInt32) -> String?) {
        lock.lock()
        classifier.homeDirectory = fn
        lock.unlock()
    }

    /// A new policy and its agent slots (a reload). Sessions keep their state; each is
    /// judged under its agent as compiled by the new policy from its next event on (or
    /// under the defaults, if the kernel retired its agent).
    public func swap(policy: Policy, slots: AgentSlots) {
        let c = Pipeline.classifier(policy, sessions: sessions, protectedPids: protectedPids, log: log, source: source)
        lock.lock()
        c.homeDirectory = classifier.homeDirectory
        current = policy
        self.slots = slots
        slotNames = slots.names(defaults: policy.defaults.name)
        earlierRuleFailures += classifier.ruleFailures
        classifier = c
        lock.unlock()
    }

    /// A session known before its first event: `tether run` forked its root, tetherd took
    /// one over from `tether run`. `agent`: a policy agent it keeps whatever its events say
    /// (`tether replay --agent`); nil: the agent the kernel chose.
    /// `confined`: the launcher applied a kernel confinement (Landlock, seccomp) to the session.
    public func begin(session: SessionID, root: Int32, workspace: String?, agent: String? = nil, label: String? = nil,
                      confined: Bool = false, time: UInt64 = BootClock.nanoseconds()) {
        lock.lock()
        if sessions[session] == nil {
            classifier.beginSession(session, rootPid: root, workspace: workspace, agent: agent, time: time, label: label)
        } else {
            sessions[session]?.label = label ?? sessions[session]?.label
        }
        if confined { sessions[session]?.confined = true }
        lock.unlock()
        ledger?.begin(session)
    }

    /// A process already running when it was tracked (adopted, or found after a restart).
    public func insert(_ p: ProcessRecord) {
        lock.lock()
        table.insert(p)
        lock.unlock()
    }

    /// One event through every stage. Returns the alerts it raised.
    @discardableResult
    public func handle(_ e: inout Event) -> [AlertRecord] {
        lock.lock()
        if source == .live {
            e.agent = slotNames[Int(e.agentSlot) % slotNames.count]
            e.resolveProcMagicLinks()
            e.resolveLinkSource()
            e.resolveUnixSocketPath()
            e.resolveUnresolvedDestination()
        }
        if !muted.isEmpty, let i = muted.firstIndex(of: e.session) {
            // a canary is one process: its exit is its session's last event
            if e.kind == .exit { muted.remove(at: i) }
            lock.unlock()
            if e.guardActions.contains(.held) { responder?.release(e) }
            return []
        }
        table.apply(&e)
        var found = classifier.process(e, table: table)
        events &+= 1
        var rootExit = false, over = false
        if e.kind == .exit {
            rootExit = e.pid == e.root || (e.root == 0 && sessions[e.session]?.rootPid == e.pid)
            // Its last process is gone: nothing of the session can happen any more, and its
            // state goes (state that only grows is a leak a long-running daemon cannot have).
            if table.liveCount(e.session) == 0 { found += classifier.endSession(e.session, table: table, time: e.time); over = true }
        }
        lock.unlock()
        if let ledger {
            ledger.observe(e)
            if over, let a = ledger.close(e.session, reason: "its last process exited") { publish(a) }
        }
        if e.kind == .exec && e.sessionStart { onSessionStart?(e) }
        if rootExit { onRootExit?(e) }
        onEvent?(e)
        let records = found.isEmpty ? [] : respond(found)
        // The kernel's guard matched a protected location and killed the caller after the
        // syscall ran: what landed is undone, also when no finding of its own was raised (a
        // rule's finding for the session's earlier attempt already stands).
        if e.guardActions.contains(.killed), let responder, let done = responder.undo(e, rule: "kernel guard") {
            log("session \(e.session): \(done)")
        }
        // The kernel stopped the caller at its refusal; whatever it was to be told, it now has.
        if e.guardActions.contains(.held) { responder?.release(e) }
        return records
    }

    /// Time-based rules (members outliving their session's root); call periodically.
    @discardableResult
    public func tick(now: UInt64 = BootClock.nanoseconds()) -> [AlertRecord] {
        lock.lock()
        let found = classifier.tick(now: now, table: table)
        lock.unlock()
        let records = found.isEmpty ? [] : respond(found)
        settleLedgers(now: now)
        return records
    }

    /// Sessions whose root exited a grace period ago: what they left behind goes into their
    /// ledger, and the session-end alert with the chain's head is raised.
    private func settleLedgers(now: UInt64) {
        guard let ledger else { return }
        ledger.pruneIfDue(now: now)
        lock.lock()
        let grace = Dictionary(sessions.all.map { ($0.id, $0.agent.gracePeriod) }, uniquingKeysWith: { a, _ in a })
        lock.unlock()
        for id in ledger.due(now: now, grace: { grace[$0] ?? 0 }) {
            lock.lock()
            let members = table.members(of: id)
            lock.unlock()
            if let a = ledger.settle(id, members: members, time: now) { publish(a) }
        }
    }

    /// Carries out each finding (in enforce mode) and raises it.
    private func respond(_ found: [Finding]) -> [AlertRecord] {
        responseLock.lock()
        defer { responseLock.unlock() }
        var out: [AlertRecord] = []
        for f in found {
            let record: AlertRecord
            lock.lock()
            let confined = sessions[f.session]?.confined ?? false
            lock.unlock()
            if confined, f.enforced, let refusal = Self.kernelRefusal(f) {
                // The kernel refused every operation of the finding: nothing landed, and the
                // agent (told by its failed syscall) may change course; no signal follows.
                record = AlertRecord(f, outcome: "refused by the kernel (\(refusal)); nothing landed, the session goes on", enforced: true)
            } else if let responder {
                lock.lock()
                let previous = sessions[f.session]?.response
                lock.unlock()
                let r = responder.handle(f, previous: previous)
                lock.lock()
                sessions[f.session]?.response = r.taken
                lock.unlock()
                record = AlertRecord(f, outcome: r.outcome, enforced: r.enforced)
            } else {
                let verb = f.action.rawValue
                let outcome = f.action == .alert ? "alert"
                    : f.enforced ? "enforce mode: would \(verb) the session (not acted on here)" : "monitor mode: would \(verb) the session"
                record = AlertRecord(f, outcome: outcome, enforced: false)
            }
            findings &+= 1
            publish(record)
            ledger?.alert(record, session: f.session, time: f.time) // when it happened, not when it was judged
            out.append(record)
            if record.enforced, let outcome = record.outcome, outcome != "alert", let responder {
                let p = policy
                if p.agent(named: f.agent).tellAgent {
                    responder.tellAgent(f, "tether: \(f.rule): \(f.message) -- \(outcome) [policy \(p.source), agent \(f.agent), enforce]\n")
                }
            }
        }
        return out
    }

    /// What refused the finding's operations in a confined session ("EACCES: Landlock"), or
    /// nil when any of them succeeded or failed for another reason. The errno is the kernel's
    /// result of the syscall, read at its exit: what the confinement returns for a refusal.
    static func kernelRefusal(_ f: Finding) -> String? {
        guard !f.events.isEmpty else { return nil }
        var by = Set<String>()
        for e in f.events {
            switch -e.result {
            case Int64(EACCES), Int64(EXDEV): by.insert(Errno.name(Int32(-e.result)))
            // seccomp's refusals, and Landlock's ptrace, signal and abstract-socket scoping
            case Int64(EPERM) where [.bpf, .module, .ioUring, .restricted, .ptrace, .kill, .connect, .ioctl].contains(e.kind):
                by.insert("EPERM")
            default: return nil
            }
        }
        return by.sorted().joined(separator: ", ")
    }

    /// Sessions whose findings and events go nowhere: Tether's own canaries (one process
    /// each; forgotten at its exit, so the list is empty between canaries). Bounded.
    public func mute(_ session: SessionID) {
        lock.lock()
        muted.append(session)
        if muted.count > 64 { muted.removeFirst(muted.count - 64) }
        lock.unlock()
    }
    private var muted: [SessionID] = []

    /// A person decided: the session may run again, and its next finding acts afresh.
    public func resumed(_ id: SessionID) {
        lock.lock()
        sessions[id]?.response = nil
        lock.unlock()
    }

    /// What is known of a session, for `tether sessions`.
    public func session(_ id: SessionID) -> (label: String?, root: Int32, agent: String)? {
        lock.lock()
        defer { lock.unlock() }
        guard let s = sessions[id] else { return nil }
        return (s.label, s.rootPid, s.agent.name)
    }

    /// The agent a kernel slot's sessions run under now.
    public func agentName(slot: UInt16) -> String {
        lock.lock()
        defer { lock.unlock() }
        return slotNames[Int(slot) % slotNames.count]
    }

    /// Rule evaluations that failed (each was logged), under every policy so far.
    public var ruleFailures: Int {
        lock.lock()
        defer { lock.unlock() }
        return earlierRuleFailures + classifier.ruleFailures
    }
    private var earlierRuleFailures = 0
}
