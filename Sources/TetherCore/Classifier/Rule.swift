/// What a rule is: its id, default severity and action, ATT&CK id, and the event kinds it
/// wants (the engine only calls a rule for those kinds).
public struct RuleInfo: Sendable {
    public let id: String
    public let severity: Severity
    public let action: Action
    public let mitre: String
    public let kinds: [EventKind]
    /// One line on what the rule watches for.
    public let title: String
    /// Catch-all rules (e.g. `escape.write`) stay quiet on an event a specific rule
    /// already explained, so one act yields one finding.
    public let fallback: Bool
    /// Which opens the rule wants when `kinds` has `.open`: the engine keeps read and
    /// write opens apart, so the many file-change rules never see the (far more common)
    /// reads. Default: `.writes` for rules that watch file changes (their kinds include
    /// `.rename`), else `.all`.
    public let opens: OpenInterest

    public init(id: String, severity: Severity, action: Action, mitre: String, kinds: [EventKind], opens: OpenInterest? = nil,
                title: String, fallback: Bool = false) {
        self.id = id
        self.severity = severity
        self.action = action
        self.mitre = mitre
        self.kinds = kinds
        self.title = title
        self.fallback = fallback
        self.opens = opens ?? (kinds.contains(.rename) ? .writes : .all)
    }
}

public enum OpenInterest: Sendable {
    /// Every open.
    case all
    /// Opens that can change the file (write access, create, truncate).
    case writes
    /// Opens that cannot.
    case reads
}

/// A rule: pure logic over one event and the session's state. It must not keep state of
/// its own; what it needs to remember lives in `SessionState` (updated by the engine).
public protocol Rule: Sendable {
    var info: RuleInfo { get }
    /// nil: nothing found. Throwing is a bug in the rule: the engine logs it and goes on.
    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit?
}

/// A rule's verdict on one event.
public struct RuleHit: Sendable {
    public var message: String
    /// What the finding is about (a path, an address, a pid): one finding per
    /// (rule, subject) and session, or per (rule, subject, pid) with `perProcess`.
    public var subject: String
    /// The path the finding is about, checked against the rule's `ignore_paths`.
    public var path: String?
    /// Earlier events that belong to the evidence (oldest first).
    public var related: [Event]
    /// The finding is about another process than the event's (e.g. the child of an exit).
    public var pid: Int32?
    /// Inside the session's own workspace: reported as `low` with action `alert`.
    public var inWorkspace: Bool
    public var perProcess: Bool

    public init(_ message: String, subject: String, path: String? = nil, related: [Event] = [], pid: Int32? = nil,
                inWorkspace: Bool = false, perProcess: Bool = false) {
        self.message = message
        self.subject = subject
        self.path = path
        self.related = related
        self.pid = pid
        self.inWorkspace = inWorkspace
        self.perProcess = perProcess
    }
}

/// Tether's own footprint, guarded by the tamper rules.
public struct TetherIdentity: Sendable {
    /// Directories (and everything below) and files that belong to Tether.
    public var paths: [String]
    public var binaries: [String]

    public init(paths: [String] = TetherIdentity.defaultPaths, binaries: [String] = TetherIdentity.defaultBinaries) {
        self.paths = paths
        self.binaries = binaries
    }

    public static let defaultPaths = [
        "/etc/tether", "/var/lib/tether", "/run/tether", "/var/run/tether", "/sys/fs/bpf",
        "/etc/systemd/system/tetherd.service", "/etc/systemd/system/tetherd.service.d",
        "/lib/systemd/system/tetherd.service", "/usr/lib/systemd/system/tetherd.service",
        "/usr/local/lib/systemd/system/tetherd.service",
    ]
    public static let defaultBinaries = [
        "/usr/local/bin/tetherd", "/usr/local/bin/tether", "/usr/local/sbin/tetherd",
        "/usr/bin/tetherd", "/usr/bin/tether", "/usr/sbin/tetherd",
    ]
}

/// A process outside every session, as the daemon can see it in /proc (for tamper rules).
public struct ExternalProcess: Sendable, Equatable {
    public var exe: String
    public var uid: UInt32
    public init(exe: String, uid: UInt32) { self.exe = exe; self.uid = uid }
}

/// Everything a rule may look at besides the event: the session, the process table, and
/// facts about the event the engine computed once. A struct of constants, built per event
/// (rules read it without copies or exclusivity checks).
public struct RuleContext {
    public let session: SessionState
    public let table: ProcessTable
    public let protectedPids: Set<Int32>
    let roots: SessionRoots
    let tether: CompiledTetherIdentity
    let external: ((Int32) -> ExternalProcess?)?
    let credentialContent: ((String) -> Bool?)?
    /// The session's `hasLearnedHomes`, read once per event.
    let learnedHomes: Bool
    /// Every home of the session beyond /home and /root (`HomeRoots`); nil when there is
    /// none, the common case.
    public let homes: HomeSet?
    /// What the event changes (`Event.modification`).
    public let modified: (path: String, op: FileOp)?
    /// The event's primary path: the modified path, else the path an open opened.
    public let path: String?
    /// `Place` bits of every location family that holds `path`.
    let pathMask: UInt64
    /// For an exec: the program's basename.
    public let execName: String?
    /// The modified path is inside the workspace.
    public let modifiedInWorkspace: Bool
    /// The modified path is inside the workspace or a writable root.
    public let modifiedMayWrite: Bool

    /// The session user's home directory, if known.
    public var home: String? { roots.home }
    /// The session user.
    public var uid: UInt32 { roots.uid }

    /// Is `pid` a live process of this session?
    public func isMember(_ pid: Int32) -> Bool {
        guard let p = table.live[pid] else { return false }
        return p.session == session.id
    }

    public func inWorkspace(_ path: String) -> Bool { roots.workspace.contains(path) }

    /// Workspace or an extra writable root.
    public func mayWrite(_ path: String) -> Bool {
        roots.workspace.contains(path) || roots.writable.contains(path) || (learnedHomes && session.homeWritable.contains(path))
    }

    /// Inside the workspace (when the workspace is not a home or above one) or a read-only root:
    /// a place the operator sanctioned reading, even for files that look like credentials.
    public func sanctionedRead(_ path: String) -> Bool {
        roots.ownTree.contains(path) || roots.readOnly.contains(path) || (learnedHomes && session.homeReadOnly.contains(path))
    }

    /// A process outside the session, as far as the daemon can tell.
    public func externalProcess(_ pid: Int32) -> ExternalProcess? { external?(pid) }

    /// Does the file at `path` hold a credential (a token, a password, a URL with one)?
    /// nil when nobody can tell (a recording replayed elsewhere; the file is gone).
    public func holdsCredential(_ path: String) -> Bool? { credentialContent?(path) ?? nil }
}

final class CompiledTetherIdentity: Sendable {
    let paths: RootSet
    let binaries: PathSet
    init(_ t: TetherIdentity) {
        paths = RootSet(t.paths, home: nil, uid: 0)
        binaries = PathSet(t.binaries)
    }
    func owns(_ path: String) -> Bool { paths.contains(path) || binaries.contains(path) }
}
