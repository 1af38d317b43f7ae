import ArgumentParser
import CTetherProbe
import Foundation
import TetherControl
import TetherCore
import TetherExport
import TetherLedger
import TetherPipeline
import TetherProbe
import TetherResponse

/// `--events FILE[,format=F]` and `--alerts FILE[,format=F]` checked before anything
/// starts: a bad format is a usage error (64), not a run without its record.
func validateOutputs(events: String?, alerts: String?) throws {
    if let e = events {
        do { _ = try EventFormat.parse(destination: e) } catch { throw ValidationError("--events \(error)") }
    }
    if let a = alerts {
        do { _ = try AlertFormat.parse(destination: a) } catch { throw ValidationError("--alerts \(error)") }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command as a new agent session, tracked from its first instruction.",
        discussion: """
        The command's exit status is passed through (128+N if it died of signal N). Findings \
        are printed on stderr, one line each, and written as JSON lines with --alerts. In enforce \
        mode a finding's action (stop, kill) is carried out on the whole session, and the kernel \
        guards act before the offender runs another instruction.
        """)

    @Option(name: .long, help: ArgumentHelp("Write every event of the session as JSON lines to FILE ('-' = stdout); FILE,format=ocsf writes OCSF Process, File System and Network Activity records.", valueName: "FILE[,format=F]"))
    var events: String?

    @Option(name: .long, help: ArgumentHelp("Write findings as JSON lines to FILE ('-' = stdout); FILE,format=falco writes Falco's JSON, FILE,format=ocsf OCSF Detection Findings.", valueName: "FILE[,format=F]"))
    var alerts: String?

    @Option(name: .long, help: ArgumentHelp("The session's workspace (default: the current directory).", valueName: "DIR"))
    var workspace: String?

    @Option(name: .long, help: ArgumentHelp("Policy file (default: /etc/tether/policy.yaml if present, else the built-in policy).", valueName: "FILE"))
    var policy: String?

    @Option(name: .long, help: ArgumentHelp("Override the policy's mode for this session: monitor or enforce.", valueName: "MODE"))
    var mode: EnforcementMode?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds a member may outlive the command before persist.outlived_session (default: the policy's grace period).", valueName: "SECONDS"))
    var grace: Double?

    @Option(name: .long, help: ArgumentHelp("tetherd's control socket: if a daemon answers there, it tracks the session instead of probes loaded here.", valueName: "PATH"))
    var socket: String = ProcessInfo.processInfo.environment["TETHER_CONTROL"] ?? ControlDefaults.socketPath

    @Option(name: .long, help: ArgumentHelp("Tether's state directory: the session's ledger goes to its sessions/ (tether report), what is undone to its quarantine/ (tether quarantine).", valueName: "DIR"))
    var stateDir: String = Quarantine.defaultStateDirectory

    @Flag(name: .long, help: "Keep no ledger of the session (standalone runs; tetherd keeps its own).")
    var noLedger = false

    @Flag(name: .long, help: "Load probes here even if tetherd is running.")
    var standalone = false

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
    var command: [String] = []

    mutating func validate() throws {
        // The command comes after `--`; anything before it that looks like an option is one
        // this command does not know (captured here only because the command is passed through).
        if command.first == "--" {
            command.removeFirst()
        } else if let first = command.first, first.hasPrefix("-") {
            throw ValidationError("unknown option \(first) (the command goes after --: tether run [options] -- CMD [ARGS])")
        }
        guard !command.isEmpty else { throw ValidationError("missing command: tether run [options] -- CMD [ARGS]") }
        if let g = grace, !(g.isFinite && g >= 0 && g <= PolicyLimits.maxSeconds) {
            throw ValidationError("--grace \(g): expected seconds from 0 to \(Int(PolicyLimits.maxSeconds)) (7 days)")
        }
        try validateOutputs(events: events, alerts: alerts)
        if let w = workspace {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: w, isDirectory: &isDir), isDir.boolValue else {
                throw ValidationError("--workspace \(w): not a directory")
            }
        }
    }

    func run() throws {
        var pol: Policy
        do { pol = try loadRunPolicy(policy) } catch { complain("\(error)"); throw ExitCode(78) }
        if let mode {
            pol.defaults.mode = mode
            for i in pol.agents.indices { pol.agents[i].mode = mode }
        }
        if let grace { pol.defaults.gracePeriod = grace } // the run's session uses the defaults
        try requireRoot("tether run")
        let workspaceDir = URL(fileURLWithPath: workspace ?? FileManager.default.currentDirectoryPath).standardizedFileURL.path
        let confinement: Confinement?
        var ineffective: [String] = []
        do { (confinement, ineffective) = try confine(pol.defaults, workspace: workspaceDir) } catch {
            complain("confining the session: \(error)")
            throw ExitCode(70)
        }
        if let status = try runViaDaemon(confine: confinement) { throw ExitCode(status) }
        let probe: Probe
        do { probe = try Probe() } catch { complain("\(error)"); throw ExitCode(70) }
        if let note = Probe.skippedNote(probe.hooks().skipped) { complain(note) }
        if !probe.dcacheHashed { complain("warning: " + probe.dcacheNote) }
        let me = getpid()
        // This run's own kernel side: its session is slot 0, the policy's defaults (in the
        // mode --mode gave), and the guards are compiled for it.
        let slots: AgentSlots
        let plan: GuardPlan
        let launchHomes = HomeRoots(passwd: nil)
        let quarantine = Quarantine(stateDirectory: stateDir)
        do {
            try probe.protect(pid: me)
            slots = try AgentSlots.assign(pol, kernel: [:], inUse: [])
            try AgentWatch.writeSlots(slots, policy: pol, probe: probe)
            // The homes the agent starts with (HOME, XDG_CONFIG_HOME, ZDOTDIR… of this
            // environment, which it inherits) are guarded from its first instruction too.
            launchHomes.learn(ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" })
            if let note = GuardPlan.refreshListening(pol, probe: probe).note { complain(note) }
            plan = GuardPlan.compile(pol, slots: slots, learned: launchHomes.learned)
            _ = try plan.install(probe)
            quarantine.watch(plan.preimaged)
        } catch {
            complain("configuring the kernel guards: \(error)")
            throw ExitCode(70)
        }
        let session = SessionID.random()
        let responder = Responder(control: SessionControl(probe: probe))
        responder.termGrace = { [pol] _ in pol.defaults.termGrace }
        responder.quarantine = quarantine
        let recorder: SessionRecorder
        do {
            recorder = try SessionRecorder(session: session, policy: pol, slots: slots, eventsPath: events, alertsPath: alerts,
                                           responder: responder, protectedPids: [me])
        } catch { complain("\(error)"); throw ExitCode(73) }
        if !ineffective.isEmpty {
            recorder.raise(AlertRecord(rule: "tether.guard_ineffective", severity: .critical,
                                       message: "kernel refusals this session was to have are not in effect: \(ineffective.joined(separator: "; ")); the tracepoint guards still act, after the fact",
                                       action: "alert", details: ["ineffective": ineffective.joined(separator: "; ")]))
        }
        if !noLedger {
            do {
                let book = try LedgerBook(LedgerBook.Options(directory: LedgerStore.directory(state: stateDir)))
                book.lostEvents = { (try? probe.stats())?.lost }
                book.log = { complain($0) }
                book.onDirectory = { GuardPlan.protectTetherDirectory($0, probe: probe) }
                recorder.pipeline.attach(ledger: book)
            } catch { complain("no ledger for this session: \(error)") }
        }
        // what Claude Code's state holds in the homes the agent starts with, before it runs
        recorder.pipeline.seedAgentState(homes: launchHomes.learned.filter { $0.under.isEmpty }.map(\.path))
        let reader = EventReader(probe: probe, sink: { recorder.handle(&$0) })
        reader.start()
        let upkeep = RunUpkeep(probe: probe, policy: pol, slots: slots, plan: plan, launchHomes: launchHomes.learned,
                               learned: recorder.pipeline.sessions.learnedHomes, quarantine: quarantine, raise: { recorder.raise($0) })
        upkeep.start()
        let started: Launcher.Started
        var terminal: Terminal?
        do {
            // the pipeline learns the root before the kernel tracks it: no event of the session comes first
            started = try Launcher.spawn(command, session: session, confine: confinement) { pid in
                recorder.pipeline.begin(session: session, root: pid, workspace: workspaceDir, label: "tether run: \((command[0] as NSString).lastPathComponent)",
                                        confined: confinement != nil)
                // held at a refusal until it has been told why (the notice must find its stderr open)
                try probe.track(pid: pid, session: session, root: pid, agent: 0, hold: confinement != nil && pol.defaults.tellAgent)
                // The agent gets the terminal's signals; we stay to drain, judge and report.
                // Ignored here, while the child (forked with our dispositions) is still held:
                // its first instruction cannot come before this, so no signal it sends us can.
                for sig in [SIGINT, SIGQUIT, SIGTERM, SIGHUP] { signal(sig, SIG_IGN) }
                // The agent runs in a process group of its own (kill(0) must not reach us);
                // on a terminal we are in the foreground of, its group takes the foreground,
                // so it reads the terminal and gets Ctrl-C as if run directly.
                terminal = Terminal.handOver(to: pid)
            }
        } catch let e as ProbeError {
            reader.stop()
            upkeep.stop()
            complain("\(e)")
            throw ExitCode(e.errno == ENOENT ? 127 : 126) // as a shell: not found 127, not executable 126
        }
        let runControl: RunControl?
        do {
            runControl = try RunControl(session: session, probe: probe, pipeline: recorder.pipeline)
        } catch {
            complain("no control socket for this session (tether resume|kill will not reach it): \(error)")
            runControl = nil
        }
        defer { runControl?.stop() }
        let status = Launcher.wait(started.pid)
        terminal?.takeBack()
        waitOutSurvivors(responder.control, session: session, recorder: recorder, grace: pol.defaults.gracePeriod)
        reader.stop()
        upkeep.stop()
        probe.releaseHeld(session: session) // nobody reads their records any more
        if recorder.pipeline.ledger != nil {
            recorder.pipeline.closeLedger(session, reason: "tether run ended")
            complain("session \(session): ledger \(LedgerStore.directory(state: stateDir))/\(session)/ledger.jsonl (tether report \(session))")
        }
        _ = recorder.finish(probe: probe, reader: reader)
        throw ExitCode(status)
    }

    /// In enforce mode, the kernel refusals the session starts with (Landlock, seccomp),
    /// compiled from `agent`'s `confine:`; said on stderr, what this kernel lacks included,
    /// and proven with a canary session first. Returns the claims the canary found not in
    /// effect (said on stderr too; the caller raises them).
    func confine(_ agent: AgentPolicy, workspace: String) throws -> (Confinement?, [String]) {
        guard agent.mode == .enforce, agent.confine.landlock || agent.confine.seccomp else { return (nil, []) }
        let uid = getuid()
        var homes: [String] = []
        if let pw = getpwuid(uid), let dir = pw.pointee.pw_dir { homes.append(String(cString: dir)) }
        // HOME is the operator's environment here (the agent does not exist yet): the home
        // its tools will use, when it differs from the passwd entry.
        if let h = ProcessInfo.processInfo.environment["HOME"], h.hasPrefix("/"), h != "/", !homes.contains(h) { homes.append(h) }
        let plan = ConfinementPlan.compile(agent, workspace: workspace, homes: homes, uid: uid)
        let c = try Confinement(plan)
        for line in c.statement { complain(line) }
        // The canary is this binary's hidden `canary` command, in Tether's own runtime
        // directory (outside every session's boundary).
        guard let me = ProcFS.exe(getpid()) else { throw ValidationError("cannot find this program for the canary (/proc/self/exe)") }
        mkdir("/run/tether", 0o755)
        let proof = try c.prove(canary: [me, "canary"], scratch: "/run/tether", writable: plan.writable)
        for line in proof.lines { complain(line) }
        if !proof.ineffective.isEmpty {
            complain("WARNING: this kernel did not refuse what the confinement claims: \(proof.ineffective.joined(separator: "; "))")
        }
        return (c, proof.ineffective)
    }

    /// Members still alive after the command exited get the grace period; then the
    /// classifier's time rules judge them (persist.outlived_session) and, in enforce mode,
    /// the session is dealt with. Either way they are named.
    func waitOutSurvivors(_ control: SessionControl, session: SessionID, recorder: SessionRecorder, grace: Double) {
        func survivors() -> [Int32] { control.members(session) }
        guard !survivors().isEmpty else { return }
        let deadline = Date().addingTimeInterval(grace + 0.5)
        while !survivors().isEmpty && Date() < deadline {
            recorder.tick()
            usleep(100_000)
        }
        recorder.tick()
        let left = survivors()
        if !left.isEmpty {
            complain("session \(session): \(left.count) process(es) still running after the command exited: \(left.map(String.init).joined(separator: ", "))")
        }
    }
}

extension EnforcementMode: ExpressibleByArgument {}

/// The canary `tether run` starts under a session's confinement before the agent:
/// `tether canary OP ARGS...` tries what the confinement must refuse and prints each errno.
struct Canary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Internal: the confinement's canary.", shouldDisplay: false)
    @Argument(parsing: .captureForPassthrough) var ops: [String] = []
    func run() throws {
        let rc = CanaryOps.perform(ops)
        if rc != 0 { throw ExitCode(rc) }
    }
}

/// The controlling terminal handed to the agent's process group and taken back after.
struct Terminal {
    let fd: Int32
    let ours: pid_t

    /// nil when stdin is no terminal, or one whose foreground is not our group.
    static func handOver(to child: pid_t) -> Terminal? {
        guard isatty(0) == 1, tcgetpgrp(0) == getpgrp() else { return nil }
        // a background group that changes the foreground gets SIGTTOU: not for this
        signal(SIGTTOU, SIG_IGN)
        guard tcsetpgrp(0, child) == 0 else { return nil }
        return Terminal(fd: 0, ours: getpgrp())
    }

    func takeBack() { _ = tcsetpgrp(fd, ours) }
}
