/// One kernel observation of a session member, decoded from the ring buffer (or from a
/// recorded JSON line). Always carries the syscall's result, so a failed attempt is told
/// apart from a success. The kinds (`EventKind`) are generated from the event schema,
/// Sources/CTetherProbe/include/tether_events.def.

/// How the decoder reads a record's numbers (a0..a3) and string slots (s0..s3) into an
/// `Event`: each kind's row in the event schema names one. A new kind that reads like an
/// existing one needs no decoder code.
public enum EventLayout: Sendable {
    case fork, exec, exit, bare, ids, capabilities
    case open, twoPaths, pathPair, symlink, path, modePath, ownerPath, lengthPath, devicePath, flagsPath
    case address, listen, sendto, socket
    case ptrace, mount, mountAPI, namespaceFlags, setns, module, command, memfd, ioUring, signal, sysctl, device
    /// a0 = the process the call reaches (0: none)
    case target
    /// a0 flags, a1 value size, a2 capabilities; s0/s1 path, s2 attribute name
    case xattr
    /// a0 fd, a1 request; s0 the fd's path
    case ioctl
    case loss
}

public enum AddressFamily: String, Sendable, Codable {
    case inet, inet6, unix
}

/// Who a call reached, as the kernel named it when the call was made. Rare, so boxed: an
/// event without one stays small.
public final class Reached: Sendable, Equatable {
    /// connect (unix stream): the process that called listen() on the other end (not what
    /// the socket's path names); kill: the signal's target.
    public let pid: Int32
    public let uid: UInt32
    /// connect: the listener is a member of the session.
    public let member: Bool
    /// connect: the listener runs a deputy's executable (a server that runs commands for its
    /// clients, `Deputies`), by the kernel's match of its inode: the deputy's name.
    public let deputy: String?
    /// connect: the listener is the service manager, on a socket it listens on for the
    /// deputy (socket activation): the deputy starts with the connection.
    public let activated: Bool
    /// kill: the target's executable path, or its command name (`comm`) when it was already
    /// past its exit's teardown.
    public let exe: String?
    public let comm: Bool

    public init(pid: Int32, uid: UInt32, member: Bool = false, deputy: String? = nil, activated: Bool = false, exe: String? = nil, comm: Bool = false) {
        self.pid = pid
        self.uid = uid
        self.member = member
        self.deputy = deputy
        self.activated = activated
        self.exe = exe
        self.comm = comm
    }

    public static func == (a: Reached, b: Reached) -> Bool {
        a.pid == b.pid && a.uid == b.uid && a.member == b.member && a.deputy == b.deputy && a.activated == b.activated && a.exe == b.exe && a.comm == b.comm
    }
}

public struct Event: Sendable, Equatable {
    public var kind: EventKind
    /// Kernel boot-time clock, nanoseconds.
    public var time: UInt64
    /// Process id (the kernel's tgid).
    public var pid: Int32
    /// Thread id.
    public var tid: Int32
    public var ppid: Int32
    public var uid: UInt32
    public var euid: UInt32
    public var gid: UInt32
    public var egid: UInt32
    public var session: SessionID
    /// The session's root, as the kernel's tracked entry says (0: not known, e.g. an older recording).
    public var root: Int32 = 0
    /// The kernel's slot of the session's agent (its `agents` map). Host-specific: the
    /// pipeline turns it into `agent` before anything else sees the event.
    public var agentSlot: UInt16 = 0
    /// The session's agent by name: the kernel's decision, made once for the session (at the
    /// exec that matched a selector, or when Tether tracked it), carried by every record.
    /// nil when not known (a recording from before agents were recorded).
    public var agent: String?
    /// What the kernel's guards did for this session when it saw this event: `enforce` if
    /// they act (kill, freeze, refuse), `monitor` if they only report.
    public var enforcement: EnforcementMode = .monitor
    /// Syscall number, 0 for scheduler events (fork, successful exec, exit).
    public var syscall: Int32
    /// The syscall's return value: negative errno on failure.
    public var result: Int64
    public var comm: String
    /// Executable of the process, from the process table (for exec: the new image).
    public var exe: String?

    // Paths. `path` is absolute and comes from the kernel; `requested` is the string
    // the caller passed, kept when it differs from `path`.
    public var path: String?
    public var requested: String?
    /// Second path: rename/link destination, pivot_root put_old, move_mount source.
    public var newPath: String?
    public var newRequested: String?
    /// The path could not be resolved completely (too deep, unreadable, or dirfd not open).
    public var pathIncomplete: Bool = false
    /// A path spelled through another process's /proc magic link (`/proc/PID/cwd/…`) that
    /// could no longer be resolved when Tether looked (the process had exited): where the
    /// change landed is unknown.
    public var pathUnresolved: Bool = false
    /// A string of the call (a path, a symlink's target, openat2's flags) was not the same
    /// when the call began as when it returned: a second thread rewrote it while the call
    /// ran, so what the record names is not necessarily what the kernel used.
    public var pathRaced: Bool = false
    /// A string of the call could not be read when the call began (its page was not in
    /// memory then; the kernel's copy faulted it in), so nothing shows that what the record
    /// names is what the kernel used. An honest program's untouched string looks the same.
    public var pathUnverified: Bool = false
    /// The file had no links left when seen (deleted, or a memfd).
    public var pathDeleted: Bool = false

    // Kind-specific numbers and strings; nil when the kind has none.
    public var flags: UInt64?
    public var mode: UInt32?
    public var argv: [String]?
    public var argvTruncated: Bool = false
    public var cwd: String?
    /// exec: the variables of the new environment that decide where the process's homes are
    /// and whether a program runs the caller's code ("HOME=/x", "LD_PRELOAD=/y.so", as the
    /// kernel read them at the exec; `ExecEnvironment` names them). Nothing else of the
    /// environment is read.
    public var env: [String]?
    /// exec: not every environment string could be read (unreadable, or more than the
    /// kernel reads): a HOME or LD_PRELOAD may be in it unseen.
    public var envIncomplete: Bool = false
    /// exec: a variable of those above was there but did not fit in the record whole.
    public var envCut: Bool = false
    /// exec: the executable's owner and mode, from the inode the kernel opened.
    public var exeOwner: UInt32?
    public var exeMode: UInt32?
    /// exec: the file exec'd was a script that its #! interpreter (`path`) runs; `requested`
    /// is the script, as the caller named it (against `cwd`).
    public var script: Bool = false
    public var sessionStart: Bool = false
    public var exitCode: Int32?
    public var signal: Int32?
    /// setuid/setgid family: the ids as given (-1 = unchanged), and which call.
    public var ids: [Int64]?
    public var idCall: String?
    public var capEffective: UInt64?
    public var capPermitted: UInt64?
    public var capInheritable: UInt64?
    public var owner: UInt32?
    public var group: UInt32?
    public var length: Int64?
    public var dev: UInt64?
    public var linkTarget: String?
    public var family: AddressFamily?
    /// IP address text, or the unix socket path (abstract names start with "@").
    public var addr: String?
    public var port: UInt16?
    public var fd: Int32?
    public var bytes: Int64?
    public var request: Int64?
    /// Target of ptrace/kill (a pid), or the child of a fork.
    public var target: Int32?
    /// Who the call reached outside the caller, as the kernel named it (`Reached`): a unix
    /// connect's listener, a signal's target outside the session.
    public var reached: Reached?
    /// fork: the child's parent is a deputy outside the session (see `deputy`) that a member
    /// reached; the child was adopted into the session. The deputy's pid.
    public var adoptedFrom: Int32?

    public var via: String?
    public var source: String?
    public var fstype: String?
    public var op: String?
    public var command: Int64?
    public var name: String?
    public var params: String?
    public var entries: UInt32?
    /// A loss record: how many records the kernel lost for good on this CPU since its last
    /// one (the lost record's kind is `op`).
    public var lost: UInt64?
    /// socket(): domain, type and protocol numbers (raw and packet sockets only).
    public var socketDomain: Int32?
    public var socketType: Int32?
    public var socketProtocol: Int32?
    /// device: "block" or "char"; `op` holds the access ("read", "write", "mknod").
    public var deviceType: String?
    /// File size right after a guarded open: what content remained.
    public var size: Int64?
    /// What the kernel's guards did about this event.
    public var guardActions: GuardActions = []

    public init(kind: EventKind, time: UInt64 = 0, pid: Int32, tid: Int32? = nil, ppid: Int32 = 0,
                uid: UInt32 = 0, euid: UInt32? = nil, gid: UInt32 = 0, egid: UInt32? = nil,
                session: SessionID = SessionID(0), syscall: Int32 = 0, result: Int64 = 0, comm: String = "") {
        self.kind = kind
        self.time = time
        self.pid = pid
        self.tid = tid ?? pid
        self.ppid = ppid
        self.uid = uid
        self.euid = euid ?? uid
        self.gid = gid
        self.egid = egid ?? gid
        self.session = session
        self.syscall = syscall
        self.result = result
        self.comm = comm
    }

    /// Did the syscall succeed?
    public var succeeded: Bool { result >= 0 }
}

/// A session id: 64 bits, printed as 16 hex digits. Ids the kernel made (policy matches)
/// have the top bit set; ids `tether run`/`watch` made do not.
public struct SessionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var raw: UInt64
    public init(_ raw: UInt64) { self.raw = raw }
    public init?(_ text: String) {
        guard text.count == 16, let v = UInt64(text, radix: 16) else { return nil }
        raw = v
    }
    public var description: String {
        let hex = String(raw, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
    public static func < (a: SessionID, b: SessionID) -> Bool { a.raw < b.raw }
    /// A fresh id for a session started from user space (top bit clear).
    public static func random() -> SessionID {
        var id: UInt64 = 0
        while id == 0 { id = UInt64.random(in: 1...UInt64.max) & ~(1 << 63) }
        return SessionID(id)
    }
}

// MARK: - What the kernel's guards left to user space

extension Event {
    /// What a kernel guard that killed the caller could not undo, in words: a tracepoint
    /// acts at syscall exit, so the call itself has run. Nil unless the caller was killed.
    public var guardAftermath: String? {
        guard guardActions.contains(.killed) else { return nil }
        let target = newPath ?? path ?? "?"
        switch kind {
        case .open:
            let f = flags ?? 0, size = self.size.map { "\($0) byte(s)" } ?? "an unknown size"
            switch (f & OpenFlags.create != 0, f & OpenFlags.truncate != 0) {
            case (true, true): return "\(target) was created or truncated: \(size), nothing written"
            case (true, false): return "\(target) exists with \(size) (created empty, or as it was): nothing written"
            case (false, true): return "\(target) was truncated: \(size) left, nothing written"
            case (false, false): break
            }
            return "\(target) was opened for writing: \(size), nothing written"
        case .rename: return "the rename was done: \(target) is in place"
        case .link: return "the link was made: \(target)"
        case .symlink: return "the symlink was made: \(target) -> \(linkTarget ?? "?")"
        default: return "the \(kind.rawValue) call itself ran"
        }
    }
}

// MARK: - Open flags

public enum OpenFlags {
    public static let accessMask: UInt64 = 0o3
    public static let writeOnly: UInt64 = 0o1
    public static let readWrite: UInt64 = 0o2
    public static let create: UInt64 = 0o100
    public static let exclusive: UInt64 = 0o200
    public static let truncate: UInt64 = 0o1000
    public static let append: UInt64 = 0o2000
    public static let directory: UInt64 = 0o200000
    public static let tmpfile: UInt64 = 0o20200000
    public static let path: UInt64 = 0o10000000

    /// Names of what an open asked for: read, write, create, exclusive, truncate, append, ...
    public static func names(_ flags: UInt64) -> [String] {
        var out: [String] = []
        if flags & path != 0 {
            out.append("path")
        } else {
            switch flags & accessMask {
            case 0: out.append("read")
            case writeOnly: out.append("write")
            default: out.append(contentsOf: ["read", "write"])
            }
        }
        if flags & tmpfile == tmpfile { out.append("tmpfile") }
        else if flags & directory != 0 { out.append("directory") }
        if flags & create != 0 { out.append("create") }
        if flags & exclusive != 0 { out.append("exclusive") }
        if flags & truncate != 0 { out.append("truncate") }
        if flags & append != 0 { out.append("append") }
        return out
    }
}

extension Event {
    /// An open that can change the file's content (write access, create or truncate).
    public var isWriteOpen: Bool {
        guard kind == .open, let f = flags else { return false }
        if f & OpenFlags.path != 0 { return false }
        return f & OpenFlags.accessMask != 0 || f & (OpenFlags.create | OpenFlags.truncate) != 0
    }
}

// MARK: - Namespace flags (unshare, setns, clone)

public enum NamespaceFlags {
    public static let table: [(UInt64, String)] = [
        (0x00020000, "mnt"), (0x02000000, "cgroup"), (0x04000000, "uts"), (0x08000000, "ipc"),
        (0x10000000, "user"), (0x20000000, "pid"), (0x40000000, "net"), (0x00000080, "time"),
    ]
    public static func names(_ flags: UInt64) -> [String] {
        table.filter { flags & $0.0 != 0 }.map { $0.1 }
    }
}

/// What a kernel guard did (te_event.guard).
public struct GuardActions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The caller was sent SIGKILL: it died on return from the syscall.
    public static let killed = GuardActions(rawValue: 1)
    /// The rest of its session was stopped in the same instant.
    public static let froze = GuardActions(rawValue: 2)
    /// A cgroup hook refused the operation: it never happened.
    public static let refused = GuardActions(rawValue: 4)
    /// Monitor mode: a guard matched but did nothing.
    public static let monitor = GuardActions(rawValue: 8)
    public static let tamper = GuardActions(rawValue: 16)
    public static let write = GuardActions(rawValue: 32)
    public static let egress = GuardActions(rawValue: 64)
    /// A child forked into a frozen session, stopped before its first instruction.
    public static let forkFrozen = GuardActions(rawValue: 128)
    /// A rename/link/symlink whose destination the kernel could not resolve (a symlinked
    /// directory on the way, too deep): the write guard did not judge it, user space does.
    public static let unresolved = GuardActions(rawValue: 256)
    /// Refused in a session that explains its refusals: the caller was stopped on its way back
    /// from the syscall and waits for user space to tell it why and continue it.
    public static let held = GuardActions(rawValue: 512)
    /// The terminal guard matched (input pushed into a terminal).
    public static let tty = GuardActions(rawValue: 1024)
    /// The deputy guard matched (a unix connect to a server outside the session that runs
    /// commands for its clients).
    public static let deputy = GuardActions(rawValue: 2048)
    /// A write to a location the rules judge and no guard acts on: nothing was done; the
    /// record was kept from a flood (the urgent ring).
    public static let noted = GuardActions(rawValue: 4096)

    public static let names: [(GuardActions, String)] = [
        (.killed, "killed"), (.froze, "froze"), (.refused, "refused"), (.monitor, "monitor"),
        (.tamper, "tamper"), (.write, "write"), (.egress, "egress"), (.forkFrozen, "fork_frozen"),
        (.unresolved, "unresolved"), (.held, "held"), (.tty, "tty"), (.deputy, "deputy"), (.noted, "noted"),
    ]
    public var names: [String] { GuardActions.names.filter { contains($0.0) }.map { $0.1 } }
    public init?(names: [String]) {
        var v: GuardActions = []
        for n in names {
            guard let f = GuardActions.names.first(where: { $0.1 == n }) else { return nil }
            v.insert(f.0)
        }
        self = v
    }
}
