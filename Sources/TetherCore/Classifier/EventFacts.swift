/// Derived facts about one event that several rules ask for. Computed, never stored, so
/// the Event model stays what the kernel said.

/// How an event changes the file system.
public enum FileOp: String, Sendable {
    case write, create, truncate, rename, delete, mkdir, chmod, chown, link, symlink, mknod

    /// "written", "renamed into", ...: for messages.
    var verb: String {
        switch self {
        case .write: "opened for writing"
        case .create: "created"
        case .truncate: "truncated"
        case .rename: "renamed into place"
        case .delete: "deleted"
        case .mkdir: "created (directory)"
        case .chmod: "chmod"
        case .chown: "chown"
        case .link: "hard-linked into place"
        case .symlink: "symlinked into place"
        case .mknod: "created (device node)"
        }
    }
}

extension Event {
    /// kill: the process the signal went to, as the kernel had it at the send (nil: a
    /// member, a group, or gone before the kernel looked).
    var targetProcess: ExternalProcess? {
        guard let r = reached, let exe = r.exe else { return nil }
        return ExternalProcess(exe: exe, uid: r.uid)
    }

    /// The absolute path this event modifies and how; for a rename, link or symlink, the
    /// new name. Relative or unresolved paths ("pipe:[...]") are not files: nil.
    public var modification: (path: String, op: FileOp)? {
        let p: String?
        let op: FileOp
        switch kind {
        case .open:
            guard isWriteOpen, let f = flags else { return nil }
            p = path
            if f & OpenFlags.create != 0 { op = .create } else if f & OpenFlags.truncate != 0 { op = .truncate } else { op = .write }
        case .rename: p = newPath; op = .rename
        case .link: p = newPath; op = .link
        case .symlink: p = path; op = .symlink
        case .unlink, .rmdir: p = path; op = .delete
        case .mkdir:
            // a name that exists already: nothing changed (`mkdir -p` asks this of every
            // ancestor, /sys and /etc included)
            guard result != -17 /* EEXIST */ else { return nil }
            p = path; op = .mkdir
        case .chmod: p = path; op = .chmod
        case .chown: p = path; op = .chown
        case .truncate: p = path; op = .truncate
        case .mknod: p = path; op = .mknod
        default: return nil
        }
        guard let p, p.utf8.first == UInt8(ascii: "/") else { return nil }
        return (p, op)
    }

    /// An open that empties the file (O_TRUNC), e.g. a shell's `>`.
    public var opensTruncating: Bool {
        guard kind == .open, isWriteOpen, let f = flags else { return false }
        return f & OpenFlags.truncate != 0
    }

    /// An open that can read content (O_RDONLY or O_RDWR, not O_PATH).
    public var opensForReading: Bool {
        guard kind == .open, let f = flags else { return false }
        return f & OpenFlags.path == 0 && f & OpenFlags.accessMask != OpenFlags.writeOnly
    }

    /// For a rename: the old name, which disappears.
    public var renameSource: String? {
        guard kind == .rename, let p = path, p.utf8.first == UInt8(ascii: "/") else { return nil }
        return p
    }

    /// An open for reading only (not O_PATH, no write, no create).
    public var isReadOpen: Bool {
        guard kind == .open, let f = flags, let p = path, p.utf8.first == UInt8(ascii: "/") else { return false }
        return f & OpenFlags.path == 0 && !isWriteOpen
    }

    /// Any open of an absolute path except O_PATH (which cannot read content).
    public var openedPath: String? {
        guard kind == .open, let p = path, p.utf8.first == UInt8(ascii: "/") else { return nil }
        if let f = flags, f & OpenFlags.path != 0 { return nil }
        return p
    }

    /// The executable name an exec ran (basename of the path, else of argv[0]). A failed
    /// exec ran nothing: it names a program only when it tried one where programs live
    /// (`tether run -- /etc/passwd` is not the passwd tool).
    var execName: Substring? {
        guard kind == .exec else { return nil }
        if let p = path {
            if !succeeded && !Event.programDirectories.contains(where: { p.hasPrefix($0) }) { return nil }
            return PathBytes.basename(p)
        }
        if let a = argv?.first { return PathBytes.basename(a) }
        return nil
    }

    static let programDirectories = ["/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/", "/usr/libexec/"]

    /// " (failed: EACCES)" for an attempt the kernel refused, "" for a success.
    var outcomeNote: String {
        if let op = ioUringOp {
            let name = Event.ioUringOpNames[op] ?? "op \(op)"
            if ioUringCompleted { return " (through io_uring, \(name), the file its completion opened)" }
            return " (through io_uring, \(name), read at submission: its outcome is not seen)"
        }
        return succeeded ? "" : " (attempt failed: \(Errno.name(Int32(truncatingIfNeeded: -result))))"
    }

    /// The io_uring operation this record is: decoded from the kernel's copy of the request
    /// when it was submitted, before it ran (`syscall` is `ioUringSyscall` | the opcode).
    public var ioUringOp: Int32? { syscall > 0 && syscall & Event.ioUringSyscall != 0 ? syscall & 0xff : nil }

    /// A ring's request seen at its completion (TE_SYSCALL_URING_DONE), `result` its outcome:
    /// an open whose opened file a guard matched.
    public var ioUringCompleted: Bool { ioUringOp != nil && syscall & Event.ioUringCompletion != 0 }

    /// TE_SYSCALL_URING.
    public static let ioUringSyscall: Int32 = 0x4000_0000
    /// TE_SYSCALL_URING_DONE.
    public static let ioUringCompletion: Int32 = 0x2000_0000
    /// The operations read at submission, by opcode (the UAPI's).
    static let ioUringOpNames: [Int32: String] = [
        9: "IORING_OP_SENDMSG", 16: "IORING_OP_CONNECT", 18: "IORING_OP_OPENAT", 28: "IORING_OP_OPENAT2", 35: "IORING_OP_RENAMEAT",
        36: "IORING_OP_UNLINKAT", 37: "IORING_OP_MKDIRAT", 38: "IORING_OP_SYMLINKAT", 39: "IORING_OP_LINKAT", 48: "IORING_OP_SENDMSG_ZC",
    ]

    /// Failed because the path was not there: a probe, not an attempt at the file.
    var failedNotFound: Bool { result == -2 || result == -20 } // ENOENT, ENOTDIR

    /// File mode bits that make a file executable.
    var addsExecBits: Bool { (mode ?? 0) & 0o111 != 0 }

    /// The event's time as whole seconds since boot (for messages).
    var bootSeconds: Double { Double(time) / 1e9 }
}

extension EventKind {
    /// Kinds that change the file system (see `Event.modification`).
    static let modifying: [EventKind] = [.open, .rename, .link, .symlink, .unlink, .rmdir, .mkdir, .chmod, .chown, .truncate, .mknod]
}
