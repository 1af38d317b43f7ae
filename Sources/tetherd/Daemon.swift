import Foundation
import TetherControl
import TetherCore
import TetherExport
import TetherLedger
import TetherPipeline
import TetherProbe
import TetherResponse

/// What the daemon was started with (tetherd's flags).
struct DaemonConfig {
    var policyPath: String
    var eventsPath: String?
    var statusInterval: Double = 60
    /// bpffs directory for the tracked map, so sessions survive a restart (nil = not pinned).
    var pinDirectory: String? = "/sys/fs/bpf/tether"
    /// Where what is undone goes (quarantine/).
    var stateDirectory = Quarantine.defaultStateDirectory
    /// Where the guard canaries make their files (tetherd's runtime directory).
    var canaryDirectory = "/run/tether"
    var ringBufferBytes: UInt32 = ProbeOptions().ringBufferBytes
    var controlPath: String? = ControlDefaults.socketPath
    var metricsAddress: String?
    var syslog: [(SyslogDestination, SyslogFormat.Style?)] = []
    var syslogFormat = SyslogFormat()
    var syslogOptions = SyslogSink.Options()
    var http: [HTTPDestination] = []
    var httpOptions = HTTPSink.Options()
    /// Findings as native journald entries too.
    var journal = false
    var alertsJSON: String?
    /// Session ledgers (STATE/sessions/); nil: none is kept.
    var ledger: LedgerBook.Options? = LedgerBook.Options(directory: LedgerStore.directory(state: Quarantine.defaultStateDirectory))
}

/// The daemon: probe, reader thread, the pipeline (process table, sessions, classifier,
/// responder, alerts), policy reloads, alert sinks, control socket, service notifications.
/// Lifecycle: init (load, attach, policy) → `run` (READY, event loop petting the watchdog)
/// → SIGTERM (drain, flush, exit 0).
final class Daemon: @unchecked Sendable {
    let config: DaemonConfig
    let probe: Probe
    let pipeline: Pipeline
    let output: LineWriter?
    let eventFormat: EventFormat
    let hub: AlertHub
    let notifier = ServiceNotifier()
    private var reader: EventReader!
    private var control: ControlListener?
    private var metrics: MetricsServer?
    let started = Date()
    let hooksAttached: Int
    /// The kernel side speaks global pids; /proc, signals and peer credentials speak this
    /// process's pid namespace. Only in the initial one do they agree (a container does not).
    let pidsMatchKernel = Daemon.inInitialPidNamespace()

    static func inInitialPidNamespace() -> Bool {
        var st = stat()
        // PROC_PID_INIT_INO: the initial pid namespace's fixed inode number
        return stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == 0xEFFF_FFFC
    }

    private let lock = NSLock()
    private var lastDrops: UInt64 = 0
    private var lastTrackFull: UInt64 = 0
    private var rate = RateWindow()

    /// The policy in force, as compiled for the kernel; replaced whole by a reload, under `policyLock`.
    private let policyLock = NSLock()
    private(set) var state: PolicyState
    let responder: Responder
    private(set) var policyLoadedAt = Date()
    private(set) var reloads: UInt64 = 0
    private(set) var rejectedReloads: UInt64 = 0

    init(config: DaemonConfig, policy: Policy) throws {
        self.config = config
        let events = try config.eventsPath.map { try EventFormat.parse(destination: $0) }
        eventFormat = events?.format ?? .tether
        output = try events.map { try LineWriter(path: $0.path) }
        var opts = ProbeOptions()
        opts.pinDirectory = config.pinDirectory
        opts.ringBufferBytes = config.ringBufferBytes
        probe = try Probe(options: opts)
        var sinks: [AlertSink] = []
        if let j = config.alertsJSON {
            let (path, format) = try AlertFormat.parse(destination: j)
            sinks.append(try JSONLinesSink(path: path, format: format))
        }
        for (d, style) in config.syslog {
            sinks.append(SyslogSink(destination: d, format: d.format(config.syslogFormat, style: style), options: config.syslogOptions,
                                    onStateChange: { log($0) }))
        }
        for d in config.http { sinks.append(HTTPSink(destination: d, options: config.httpOptions, onStateChange: { log($0) })) }
        if config.journal { sinks.append(JournalSink(severities: config.syslogFormat.severities)) }
        let hub = AlertHub(sinks: sinks)
        self.hub = hub
        responder = Responder(control: SessionControl(probe: probe))
        responder.quarantine = Quarantine(stateDirectory: config.stateDirectory)
        let hooks = probe.hooks()
        hooksAttached = hooks.attached
        if let note = Probe.skippedNote(hooks.skipped) { log(note) }
        log((probe.dcacheHashed ? "" : "warning: ") + probe.dcacheNote)
        if let note = GuardPlan.refreshListening(policy, probe: probe).note { log(note) }
        let compiled = try PolicyState.compile(policy, probe: probe)
        state = compiled.with(slots: try compiled.installWatch(replacing: nil, probe: probe))
        try Daemon.dropStaleProtection(probe)
        try probe.protect(pid: getpid())
        let g = try state.guards.install(probe)
        responder.quarantine?.watch(state.guards.preimaged)
        log("kernel guards: \(state.guards.guards.rawValue == 0 ? "none" : "on") (\(g.inodes) protected inode(s), \(g.names) protected name(s), \(g.egressEntries) egress allow entries; \(g.absent.count) protected location(s) unguardable: neither they nor their directory exist)")
        for u in state.watch.unresolved { log("warning: \(u)") }
        for o in policy.selectorOverlaps() { log("warning: \(o)") }
        let i = state.watch.installed
        if !pidsMatchKernel {
            log("warning: running in a child pid namespace (a container?): the kernel reports host pids, so adopting running agents, pruning exited members after a restart, refusing agent members on the control socket, and stop/kill/resume of sessions are off; run tetherd on the host")
        }
        log("watching \(policy.agents.count) agent(s): \(i.executables) executable(s), \(i.comms) command name(s), \(i.uids) uid(s), \(i.cgroups) cgroup(s); \(hooks.attached) hooks attached")
        pipeline = Pipeline(policy: policy, slots: state.slots, source: .live, responder: responder, protectedPids: [getpid()],
                            publish: { a in Daemon.raise(a, hub) })
        pipeline.log = { log("classifier: \($0)") }
        responder.termGrace = { [pipeline] f in pipeline.policy.agent(named: f.agent).termGrace }
        pipeline.onEvent = { [unowned self] e in self.emit(e) }
        pipeline.onSessionStart = { e in
            log("session \(e.session) started: agent \(e.agent ?? "?") (\(e.enforcement.rawValue)), pid \(e.pid), \(e.path ?? e.comm)")
        }
        pipeline.onRootExit = { e in
            log("session \(e.session) root \(e.pid) exited (code \(e.exitCode ?? 0)\(e.signal.map { ", signal \($0)" } ?? ""))")
        }
        if let o = config.ledger {
            do {
                let book = try LedgerBook(o)
                book.lostEvents = { [probe] in (try? probe.stats())?.lost }
                book.log = { log($0) }
                book.onDirectory = { [probe] in GuardPlan.protectTetherDirectory($0, probe: probe) }
                pipeline.attach(ledger: book)
                log("session ledgers: \(o.directory) (\(o.capBytes >> 20) MiB each; ended ones kept \(Int(o.keepSeconds / 86_400)) day(s), \(o.keepBytes >> 20) MiB in all)")
            } catch { log("warning: no session ledgers: \(error)") }
        }
        reader = EventReader(probe: probe, sink: { [pipeline] in pipeline.handle(&$0) },
                             onCorrupt: { log("corrupt record skipped: \($0)") })
    }

    /// The pinned protected pids outlive the instance that added them: an earlier tetherd's
    /// pid, once dead and reused by an agent, would make signals among that agent's own
    /// processes look like tampering. Keep only live Tether processes.
    private static func dropStaleProtection(_ probe: Probe) throws {
        for pid in try probe.protectedPids() where pid != getpid() {
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
            let name = (exe as NSString).lastPathComponent.replacingOccurrences(of: " (deleted)", with: "")
            if name == "tetherd" || name == "tether" { continue }
            try probe.protect(pid: pid, false)
            log("pid \(pid) was protected by an earlier instance and is \(exe.isEmpty ? "gone" : "now \(exe)"): no longer protected")
        }
    }

    /// Every event as a JSON line, to the events file (in its format) and to the streams of
    /// its session (always Tether's own: `tether run` decodes them).
    private func emit(_ e: Event) {
        lock.lock()
        let mine = eventStreams.filter { $0.session == e.session }
        lock.unlock()
        var own: String?
        if let output {
            let line = eventFormat.encode(e)
            output.write(line)
            if eventFormat == .tether { own = line }
        }
        guard !mine.isEmpty else { return }
        let line = own ?? EventJSON.encode(e)
        for s in mine { s.offer(line) }
    }

    private var eventStreams: [EventStream] = []

    func addEventStream(_ s: EventStream) {
        lock.lock()
        eventStreams.append(s)
        lock.unlock()
    }

    func removeEventStream(_ s: EventStream) {
        lock.lock()
        eventStreams.removeAll { $0 === s }
        lock.unlock()
    }

    /// Raises an alert through every sink (the pipeline's findings, and the daemon's own
    /// `tether.*` alerts).
    func alert(_ a: AlertRecord) { Daemon.raise(a, hub) }

    static func raise(_ a: AlertRecord, _ hub: AlertHub) {
        // with the journal sink each alert is a structured entry: the plain stderr line
        // would be the same alert twice in `journalctl -u tetherd`
        if !hub.sinks.contains(where: { $0 is JournalSink }) { log("alert \(a.rule) [\(a.severity.rawValue)]\(a.session.isEmpty ? "" : " session \(a.session)")\(a.agent.map { " agent \($0)" } ?? ""): \(a.message)\(a.outcome.map { " -> \($0)" } ?? "")") }
        hub.publish(a)
    }

    // MARK: sessions across restarts

    /// With a pinned tracked map, sessions from before a restart are still there: prune
    /// members that exited while no daemon ran, and take in children they forked meanwhile
    /// (no program was attached to inherit them) with their session's own entry. Each keeps
    /// the agent the kernel's entry names.
    func reconcilePinnedSessions() {
        guard let members = try? probe.trackedMembers(), !members.isEmpty else { return }
        guard pidsMatchKernel else {
            log("\(Set(members.map(\.session)).count) session(s) with \(members.count) process(es) still tracked from before the restart (pinned map)")
            return
        }
        var live: [SessionID: (entry: Probe.Member, pids: Set<Int32>)] = [:]
        var pruned = 0
        for m in members {
            if kill(m.pid, 0) != 0 && errno == ESRCH {
                try? probe.untrack(pid: m.pid)
                pruned += 1
                continue
            }
            live[m.session, default: (m, [])].pids.insert(m.pid)
        }
        var added = 0
        let me = getpid()
        for (session, s) in live {
            var known = s.pids
            var frontier = Array(s.pids)
            while let p = frontier.popLast() {
                for c in ProcFS.descendants(of: p) where !known.contains(c) && c != me {
                    if probe.session(of: c) == nil {
                        try? probe.track(pid: c, session: session, root: s.entry.root, agent: s.entry.agent, mode: s.entry.ownMode)
                        added += 1
                    }
                    known.insert(c)
                    frontier.append(c)
                }
            }
            for p in known { if let info = ProcFS.info(p, session: session) { pipeline.insert(info) } }
            pipeline.begin(session: session, root: s.entry.root, workspace: nil, label: "tracked before a restart")
            log("session \(session) tracked again after restart: \(known.count) process(es), root \(s.entry.root), agent \(pipeline.agentName(slot: s.entry.agent))")
        }
        if pruned > 0 || added > 0 {
            log("pinned sessions: \(pruned) exited member(s) pruned, \(added) child(ren) forked while no daemon ran taken in")
        }
    }

    /// Tracks agents that were already running when the daemon started, with their
    /// descendants, under the agent the kernel's precedence gives them.
    func adoptRunning() {
        guard pidsMatchKernel else { return }
        let me = getpid()
        var adopted = 0
        let (policy, slots) = currentPolicy()
        for pid in ProcFS.pids() where pid != me && probe.session(of: pid) == nil {
            guard let agent = AgentWatch.match(pid: pid, policy), let slot = slots.slot(of: agent.name) else { continue }
            let session = SessionID.random()
            pipeline.begin(session: session, root: pid, workspace: ProcFS.cwd(pid), label: "adopted")
            for p in ProcFS.descendants(of: pid) where p != me {
                // pinned by a pidfd while it goes in: a pid that exits meanwhile is not left behind
                _ = try? probe.adopt(pid: p, session: session, root: pid, agent: slot)
                if let info = ProcFS.info(p, session: session) { pipeline.insert(info) }
            }
            adopted += 1
            log("session \(session) adopted: agent \(agent.name) (\(agent.mode.rawValue)), running pid \(pid) (\(ProcFS.exe(pid) ?? "?"))")
        }
        if adopted == 0 { log("no matching agent was already running") }
    }

    /// A session `tether run` started and handed over, before its first instruction: it
    /// runs under the defaults (slot 0), in `mode` if the run asked for one.
    func register(session: SessionID, root: Int32, label: String, mode: EnforcementMode?, confined: Bool = false) throws {
        // held at a refusal until it has been told why (the notice must find its stderr open)
        try probe.track(pid: root, session: session, root: root, agent: 0, mode: mode, hold: confined && currentPolicy().0.defaults.tellAgent)
        pipeline.begin(session: session, root: root, workspace: ProcFS.cwd(root), label: label, confined: confined)
        if let info = ProcFS.info(root, session: session) { pipeline.insert(info) }
        log("session \(session) registered by tether run: root \(root) (\(label)), agent \(pipeline.agentName(slot: 0))\(mode.map { ", mode \($0.rawValue)" } ?? "")")
    }

    func currentPolicy() -> (Policy, AgentSlots) {
        policyLock.lock()
        defer { policyLock.unlock() }
        return (state.policy, state.slots)
    }

    // MARK: reload

    /// Reads the policy again and swaps it in whole; a bad policy changes nothing, is
    /// logged and raised as an alert. The reader keeps draining throughout: no event is lost.
    @discardableResult
    func reload(announced: Bool = false) -> Result<String, Error> {
        reloadLock.lock()
        defer { reloadLock.unlock() }
        if !announced { notifier.reloading() }
        let r = swapPolicy()
        notifier.ready(status: statusLine())
        return r
    }

    /// Serializes reloads; `policyLock` is only held for the swap, so the reader never waits on a reload.
    private let reloadLock = NSLock()

    // MARK: what the kernel relies on, checked

    /// The guard switches and the tracked set's fast-path bits, checked every few seconds
    /// (`GuardPlan.checkKernel`). Skipped while a reload installs a plan (its switches
    /// change then, on purpose).
    func checkIntegrity() {
        guard reloadLock.try() else { return }
        defer { reloadLock.unlock() }
        policyLock.lock()
        let plan = state.guards
        policyLock.unlock()
        for msg in plan.checkKernel(probe) {
            log(msg)
            alert(AlertRecord(rule: "tether.guard_tampered", severity: .critical, message: msg, action: "alert"))
        }
    }

    /// The homes the sessions' members were exec'd with (`LearnedHomes`), guarded in the
    /// kernel like the login users' homes once they are learned, and the TCP deputies'
    /// ports where they were found to move (`listeners`, what to say of it): a new plan
    /// replaces the one in force (without a moment of fewer guards). Until it is in, the
    /// rules judge what lands there.
    func replanGuards(homesMoved: Bool, listeners: String?) {
        reloadLock.lock()
        defer { reloadLock.unlock() }
        let learned = pipeline.sessions.learnedHomes.snapshot()
        policyLock.lock()
        let old = state
        policyLock.unlock()
        let new = old.with(learned: learned.homes)
        do {
            let g = try new.guards.install(probe)
            responder.quarantine?.watch(new.guards.preimaged)
            policyLock.lock()
            state = new
            policyLock.unlock()
            if homesMoved { log(GuardPlan.learnedHomesNote(learned.homes.count, dropped: learned.dropped, g, whose: "the sessions'")) }
            if let listeners { log(listeners) }
        } catch {
            log("warning: a new guard plan (the sessions' learned homes, the TCP deputies' ports) could not be installed (the rules still judge them): \(error)")
        }
    }
    private let reloadQueue = DispatchQueue(label: "tether-reload")
    private var reloadQueued = false

    /// A SIGHUP: reload on a queue of its own, so the event loop (and the watchdog it feeds)
    /// never waits for a policy to be read. Requests that come while one waits to run are
    /// one reload: a storm of SIGHUPs costs one or two, not one each.
    func requestReload() {
        lock.lock()
        defer { lock.unlock() }
        guard !reloadQueued else { return }
        reloadQueued = true
        // RELOADING=1 at once, as the signal is taken: systemd's reload job (ExecReload sends
        // the SIGHUP) then waits for the READY=1 that ends the reload
        notifier.reloading()
        reloadQueue.async { [self] in
            lock.lock()
            reloadQueued = false
            lock.unlock()
            reload(announced: true)
        }
    }

    private func swapPolicy() -> Result<String, Error> {
        hub.reopen()
        let path = config.policyPath
        func rejected(_ why: String, _ error: Error) -> Result<String, Error> {
            policyLock.lock()
            rejectedReloads += 1
            policyLock.unlock()
            // bounded: a policy with a thousand errors is one readable alert, not a megabyte
            let text = (error as? PolicyLoadError)?.summary() ?? "\(error)"
            log("reload rejected, keeping the previous policy: \(error)")
            alert(AlertRecord(rule: "tether.policy_rejected", severity: .high, message: "\(why): \(text)", path: path, action: "alert"))
            return .failure(error)
        }
        let policy: Policy
        let new: PolicyState
        do {
            policy = try Policy.load(path: path)
            if let note = GuardPlan.refreshListening(policy, probe: probe).note { log(note) } // its deputies may differ
            new = try PolicyState.compile(policy, probe: probe, learned: pipeline.sessions.learnedHomes.snapshot().homes)
        } catch {
            return rejected("policy reload rejected, the previous policy stays in force", error)
        }
        policyLock.lock()
        let old = state
        policyLock.unlock()
        let final: AgentSlots
        do {
            final = try new.installWatch(replacing: old, probe: probe)
        } catch {
            // A map update failed midway: put the old policy back in full.
            let restore = Result { try old.installWatch(replacing: new, probe: probe) }
            log("reload failed installing the new policy (\(error)); previous policy \(restore.isSuccess ? "restored" : "could not be restored: \(restore)")")
            return rejected("policy reload failed in the kernel maps", error)
        }
        let installed = new.with(slots: final)
        do {
            _ = try installed.guards.install(probe)
            responder.quarantine?.watch(installed.guards.preimaged)
            proveGuards(installed.guards, policy: policy)
        } catch {
            log("warning: the new policy's kernel guards could not be installed: \(error)")
        }
        // Sessions in flight keep their state and their agent (the kernel's slot); the
        // pipeline judges them under the agent as the new policy has it from their next event.
        pipeline.swap(policy: policy, slots: final)
        policyLock.lock()
        state = installed
        policyLoadedAt = Date()
        reloads += 1
        policyLock.unlock()
        for u in installed.watch.unresolved { log("warning: \(u)") }
        for o in policy.selectorOverlaps() { log("warning: \(o)") }
        for (slot, s) in final.slots.sorted(by: { $0.key < $1.key }) where s.retired {
            log("agent \(s.name) left the policy: its running sessions (slot \(slot)) go on under the defaults (\(policy.defaults.mode.rawValue))")
        }
        let i = installed.watch.installed
        let text = "policy reloaded from \(path): \(policy.agents.count) agent(s), \(i.executables) executable(s), \(i.comms) command name(s), \(i.uids) uid(s), \(i.cgroups) cgroup(s)"
        log(text)
        return .success(text)
    }

    // MARK: status

    func snapshot() -> DaemonStatus {
        let lost = (try? probe.stats())?.lost ?? lastDrops
        let members = (try? probe.tracked()) ?? []
        lock.lock()
        let perSecond = rate.perSecond
        lock.unlock()
        policyLock.lock()
        let agents = state.policy.agents.count, loadedAt = policyLoadedAt, r = reloads, rr = rejectedReloads
        let proof = guardProof
        policyLock.unlock()
        return DaemonStatus(pid: getpid(), uptimeSeconds: Date().timeIntervalSince(started), policy: config.policyPath,
                            policyLoadedAt: loadedAt, agents: agents, hooksAttached: hooksAttached,
                            sessions: Set(members.map(\.session)).count, trackedProcesses: members.count,
                            events: pipeline.events, eventsPerSecond: perSecond, lostEvents: lost,
                            corruptRecords: reader.corrupt, alerts: hub.counts().total, reloads: r,
                            rejectedReloads: rr, sinks: hub.health(), guards: proof?.summary)
    }

    /// The sessions the kernel tracks, each with the agent its entry names.
    func sessionList() -> [SessionInfo] {
        let members = (try? probe.trackedMembers()) ?? []
        var by: [SessionID: (entry: Probe.Member, pids: [Int32])] = [:]
        for m in members { by[m.session, default: (m, [])].pids.append(m.pid) }
        return by.keys.sorted().map { s in
            let v = by[s]!
            let known = pipeline.session(s)
            return SessionInfo(session: s.description, agent: pipeline.agentName(slot: v.entry.agent), root: v.entry.root,
                               rootAlive: v.pids.contains(v.entry.root), members: v.pids.sorted(), rootExe: ProcFS.exe(v.entry.root),
                               mode: v.entry.ownMode?.rawValue, label: known?.label)
        }
    }

    func statusLine() -> String {
        let s = snapshot()
        return String(format: "%d session(s), %d process(es), %.0f events/s, %llu lost", s.sessions, s.trackedProcesses,
                      s.eventsPerSecond, s.lostEvents) + (s.guards.map { "; guards \($0)" } ?? "")
    }

    /// What the canary sessions found (start, latest reload); guarded by policyLock.
    private var guardProof: GuardProof?

    /// Proves the installed guards with canary sessions (`GuardCanary`); the result goes to
    /// the log, `tether status`, STATUS=, and an alert when a guard is not in effect.
    func proveGuards(_ plan: GuardPlan, policy: Policy) {
        let proof: GuardProof
        if !pidsMatchKernel {
            // the kernel would track the host process that has the canary's pid here: never
            proof = GuardProof(notProven: "tetherd runs in a child pid namespace (a container), where it cannot track a canary by pid")
        } else if let me = ProcFS.exe(getpid()) {
            mkdir(config.canaryDirectory, 0o755)
            proof = GuardCanary.prove(probe: probe, guards: plan.guards, program: [me, "--canary-op"], scratch: config.canaryDirectory,
                                      tetherPid: getpid(), egressTo: GuardCanary.refusedDestination(policy),
                                      mute: { [pipeline] in pipeline.mute($0) })
        } else {
            proof = GuardProof(notProven: "/proc/self/exe is unreadable")
        }
        policyLock.lock()
        guardProof = proof
        policyLock.unlock()
        log("\(proof.notProven == nil ? "" : "warning: ")kernel guards \(proof.summary)")
        if !proof.ineffective.isEmpty {
            alert(AlertRecord(rule: "tether.guard_ineffective", severity: .critical,
                              message: "kernel guards not in effect, proven by a canary session: \(proof.summary.dropFirst("NOT EFFECTIVE: ".count))",
                              action: "alert", details: ["ineffective": proof.ineffective.joined(separator: ", ")]))
        }
    }

    // MARK: run

    static func handledSignals() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&set, s) }
        return set
    }

    /// Called first thing in main, before any thread exists: every thread inherits the mask,
    /// so these signals wait for the event loop's sigtimedwait.
    static func blockHandledSignals() {
        var set = handledSignals()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    func run() throws -> Int32 {
        reader.start()
        probe.releaseHeld() // members an earlier instance held when it stopped
        reconcilePinnedSessions()
        adoptRunning()
        if let path = config.controlPath {
            let svc = ControlService(daemon: self)
            control = try ControlListener(path: path, authorize: { svc.authorize($0) },
                                          handle: { svc.handle($0, $1, $2) })
            control?.start()
            log("control socket \(path)")
        }
        if let m = config.metricsAddress {
            metrics = try MetricsServer(address: m, daemon: self)
            metrics?.start()
            log("metrics on http://\(m)/metrics")
        }

        policyLock.lock()
        let current = state
        policyLock.unlock()
        proveGuards(current.guards, policy: current.policy)
        // READY only now: programs attached, policy in the maps, running agents adopted,
        // the guards proven.
        notifier.ready(status: statusLine())
        log("ready")
        var lastStatus = Date()
        var lastIntegrity = Date()
        var guardedHomes = 0
        var lastTurns = reader.turns
        var wait = timespec(tv_sec: 0, tv_nsec: 250_000_000)
        loop: while true {
            // SIGTERM/SIGINT/SIGHUP are blocked in every thread (see main) and taken here.
            var set = Daemon.handledSignals()
            let sig = sigtimedwait(&set, nil, &wait)
            switch sig {
            case SIGTERM, SIGINT: break loop
            case SIGHUP: requestReload()
            default: break
            }
            if let e = reader.pollError {
                log("event reader failed: \(e); exiting so the service manager restarts us")
                alert(AlertRecord(rule: "tether.reader_failed", severity: .critical,
                                  message: "tetherd's event reader failed (\(e)); the daemon exits and is restarted", action: "alert"))
                _ = hub.close(timeout: 2)
                return 70
            }
            // The watchdog is fed only while the reader thread is making progress.
            let turns = reader.turns
            if turns != lastTurns {
                notifier.petWatchdog()
                lastTurns = turns
            }
            lock.lock()
            rate.add(pipeline.events)
            lock.unlock()
            output?.flush() // stdio locks the FILE: safe beside the reader thread's writes
            pipeline.tick()
            pipeline.ledger?.flush()
            responder.quarantine?.refresh() // pre-images kept fresh (a stat per file, every 30 s)
            var listeners: (changed: Bool, note: String?) = (false, nil)
            if Date().timeIntervalSince(lastIntegrity) >= 5 {
                checkIntegrity()
                listeners = GuardPlan.refreshListening(pipeline.policy, probe: probe)
                lastIntegrity = Date()
            }
            let homes = pipeline.sessions.learnedHomes.generation
            if homes != guardedHomes || listeners.changed {
                let homesMoved = homes != guardedHomes
                guardedHomes = homes
                let note = listeners.note
                reloadQueue.async { [self] in replanGuards(homesMoved: homesMoved, listeners: note) }
            }
            checkDrops()
            if config.statusInterval > 0, Date().timeIntervalSince(lastStatus) >= config.statusInterval {
                let line = statusLine()
                log("status: \(line)")
                notifier.status(line)
                lastStatus = Date()
            }
        }
        log("stopping")
        notifier.stopping()
        control?.stop()
        metrics?.stop()
        reader.stop()
        checkDrops()
        for (name, left) in hub.close(timeout: 5) {
            log("warning: \(name): \(left) alert(s) undelivered at shutdown")
        }
        output?.close()
        if let f = output?.failure { log(f) }
        // A deliberate stop detaches the programs; the pinned maps keep the sessions for the
        // next start. (A crash leaves everything attached: the guards keep acting meanwhile.)
        do { try probe.unpinLinks() } catch { log("warning: \(error)") }
        probe.close()
        log("stopped")
        return 0
    }

    /// Lost events are never silent: each increase is logged with the per-CPU split and raised.
    private func checkDrops() {
        guard let s = try? probe.stats() else { return }
        if s.lost > lastDrops {
            let perCPU = (try? probe.dropsPerCPU()) ?? []
            let n = s.lost - lastDrops
            log("warning: \(n) events lost (ring buffer full); total \(s.lost), per CPU: \(perCPU.map(String.init).joined(separator: " "))")
            alert(AlertRecord(rule: "tether.events_lost", severity: .high,
                                    message: "\(n) kernel events lost (ring buffer full); \(s.lost) in total",
                                    action: "alert", details: ["lost": String(n), "lost_total": String(s.lost)]))
            lastDrops = s.lost
        }
        // A child the kernel could not put in its session (tracked map full) runs unwatched:
        // as serious as a lost event, and raised the same way.
        if s.trackFull > lastTrackFull {
            let n = s.trackFull - lastTrackFull
            log("warning: \(n) new process(es) could not be tracked (tracked-process map full); total \(s.trackFull)")
            alert(AlertRecord(rule: "tether.track_full", severity: .high,
                              message: "\(n) new process(es) of watched sessions could not be tracked (the kernel's tracked-process map is full): they run unwatched; \(s.trackFull) in total",
                              action: "alert", details: ["untracked": String(n), "untracked_total": String(s.trackFull)]))
            lastTrackFull = s.trackFull
        }
    }
}

/// Events per second over the last few seconds.
struct RateWindow {
    private var samples: [(Date, UInt64)] = []
    mutating func add(_ total: UInt64) {
        let now = Date()
        samples.append((now, total))
        while let f = samples.first, now.timeIntervalSince(f.0) > 5 { samples.removeFirst() }
    }
    var perSecond: Double {
        guard let f = samples.first, let l = samples.last, l.0 > f.0 else { return 0 }
        return Double(l.1 - f.1) / l.0.timeIntervalSince(f.0)
    }
}

extension Result {
    var isSuccess: Bool { if case .success = self { return true } else { return false } }
}
