import CTetherProbe
import TetherCore

/// Ring buffer record -> typed `Event`. Bounds are checked against the record size, so a
/// corrupt record is an error, never a crash.
public enum RecordDecoder {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case short(Int)
        case abi(UInt16)
        case size(declared: UInt32, actual: Int)
        case kind(UInt16)
        case string(slot: Int)
        case environment
        public var description: String {
            switch self {
            case .short(let n): return "record of \(n) bytes is shorter than the \(MemoryLayout<te_event>.size)-byte header"
            case .abi(let v): return "record ABI version \(v), expected \(TE_ABI_VERSION)"
            case .size(let d, let a): return "record declares \(d) bytes but has \(a)"
            case .kind(let k): return "unknown event kind \(k)"
            case .string(let s): return "string slot \(s) points outside the record"
            case .environment: return "the exec's environment strings point outside the record"
            }
        }
    }

    public static func decode(_ buf: UnsafeRawBufferPointer) throws -> Event {
        let fixed = MemoryLayout<te_event>.size
        guard buf.count >= fixed, let base = buf.baseAddress else { throw Failure.short(buf.count) }
        let r = base.loadUnaligned(as: te_event.self)
        guard r.h.abi == TE_ABI_VERSION else { throw Failure.abi(r.h.abi) }
        guard Int(r.h.size) <= buf.count, Int(r.h.size) >= fixed else { throw Failure.size(declared: r.h.size, actual: buf.count) }
        guard let kind = EventKind(abiNumber: r.h.kind) else { throw Failure.kind(r.h.kind) }

        let slots = Four(r.s)
        func raw(_ i: Int) throws -> UnsafeRawBufferPointer? {
            let s = slots[i]
            if s.enc == UInt8(TE_STR_NONE.rawValue) { return nil }
            let end = Int(s.off) + Int(s.len)
            guard Int(s.off) >= fixed, end <= Int(r.h.size) else { throw Failure.string(slot: i) }
            return UnsafeRawBufferPointer(rebasing: buf[Int(s.off)..<end])
        }
        func text(_ i: Int) throws -> String? {
            guard let b = try raw(i) else { return nil }
            if slots[i].enc == UInt8(TE_STR_DPATH.rawValue) { return dpath(b) }
            return String(decoding: b, as: UTF8.self)
        }
        func flags(_ i: Int) -> UInt8 { slots[i].flags }
        /// The path of a (kernel path, requested) slot pair.
        func pathPair(_ k: Int) throws -> (path: String?, requested: String?, incomplete: Bool, deleted: Bool) {
            let requested = try text(k + 1)
            let kernel = try text(k)
            let kf = flags(k)
            let incomplete = kf & UInt8(TE_STRF_TRUNCATED | TE_STRF_FAULT) != 0 || flags(k + 1) & UInt8(TE_STRF_TRUNCATED | TE_STRF_FAULT) != 0
            // a path through the caller's own /proc magic link: read without the prefix the
            // kernel measured, against the base it put in the kernel slot (or from the root)
            let skip = Int(slots[k + 1].skip)
            let rest = skip > 0 ? requested.map { String(decoding: $0.utf8.dropFirst(skip), as: UTF8.self) } : requested
            var path: String?
            if let kernel, kf & UInt8(TE_STRF_FAULT) == 0 {
                if kf & UInt8(TE_STRF_ROOT) != 0, let rest, rest.hasPrefix("/") {
                    path = Paths.under(root: kernel, rest) // the caller's chroot: absolute within it
                } else {
                    path = kf & UInt8(TE_STRF_BASE) != 0 ? Paths.join(kernel, rest ?? "") : kernel
                }
            } else if let rest, rest.hasPrefix("/") {
                path = Paths.normalize(rest)
            }
            // deleted: the file the slot names by itself has no links left; a base or a root
            // the path is read against says nothing of the file it reaches (`..` still
            // walks up from a removed directory)
            let deleted = kf & UInt8(TE_STRF_DELETED) != 0 && kf & UInt8(TE_STRF_BASE | TE_STRF_ROOT) == 0
            return (path, requested == path ? nil : requested, incomplete, deleted)
        }

        var e = Event(kind: kind, time: r.h.time_ns, pid: Int32(bitPattern: r.tgid), tid: Int32(bitPattern: r.pid),
                      ppid: Int32(bitPattern: r.ppid), uid: r.uid, euid: r.euid, gid: r.gid, egid: r.egid,
                      session: SessionID(r.session), syscall: Int32(bitPattern: r.syscall), result: r.result,
                      comm: cString(r.comm))
        let a = Four(r.a)
        e.guardActions = GuardActions(rawValue: r.guard)
        e.root = Int32(bitPattern: r.root_tgid)
        e.agentSlot = r.agent
        e.enforcement = r.mode & UInt16(TE_MODE_ENFORCE) != 0 ? .enforce : .monitor
        let strFlags = flags(0) | flags(1) | flags(2) | flags(3)
        e.pathRaced = strFlags & UInt8(TE_STRF_RACED) != 0
        e.pathUnverified = strFlags & UInt8(TE_STRF_UNVERIFIED) != 0
        func setPath(_ k: Int) throws {
            let p = try pathPair(k)
            e.path = p.path
            e.requested = p.requested
            e.pathIncomplete = e.pathIncomplete || p.incomplete
            e.pathDeleted = p.deleted
        }
        func setNewPath(_ k: Int) throws {
            let p = try pathPair(k)
            e.newPath = p.path
            e.newRequested = p.requested
            e.pathIncomplete = e.pathIncomplete || p.incomplete
        }

        switch kind.layout {
        case .fork:
            e.target = Int32(truncatingIfNeeded: a[0])
            if a[1] != 0 { e.adoptedFrom = Int32(truncatingIfNeeded: a[1]) }
        case .exec:
            e.flags = nil
            if e.syscall == 0 {
                e.path = try text(0)
                e.pathDeleted = flags(0) & UInt8(TE_STRF_DELETED) != 0
                e.pathIncomplete = flags(0) & UInt8(TE_STRF_TRUNCATED | TE_STRF_FAULT) != 0
                if let b = try raw(1) {
                    e.argv = b.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
                    if b.isEmpty { e.argv = [] }
                } else {
                    e.argv = []
                }
                e.argvTruncated = a[1] & UInt64(TE_EXEC_ARGV_TRUNCATED) != 0
                e.sessionStart = a[1] & UInt64(TE_EXEC_SESSION_START) != 0
                e.script = a[1] & UInt64(TE_EXEC_SCRIPT) != 0
                e.cwd = try text(2)
                let req = try text(3)
                e.requested = req == e.path ? nil : req
                let envFlags = UInt32(truncatingIfNeeded: a[2] >> 32)
                let envOff = Int(a[2] & 0xffff), envLen = Int((a[2] >> 16) & 0xffff)
                if envLen > 0 {
                    guard envOff >= fixed, envOff + envLen <= Int(r.h.size) else { throw Failure.environment }
                    e.env = UnsafeRawBufferPointer(rebasing: buf[envOff..<envOff + envLen])
                        .split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                } else if envFlags & (UInt32(TE_ENV_HOME) | UInt32(TE_ENV_LOADER) | UInt32(TE_ENV_INTERPRETER)) != 0 {
                    e.env = []
                }
                e.envIncomplete = envFlags & UInt32(TE_ENV_INCOMPLETE) != 0
                e.envCut = envFlags & UInt32(TE_ENV_CUT) != 0
                e.exeMode = UInt32(truncatingIfNeeded: a[3] & 0xffff)
                e.exeOwner = UInt32(truncatingIfNeeded: a[3] >> 32)
            } else {
                // a failed execve/execveat: requested name, resolved against cwd/dirfd
                let p = try pathPair(2)
                e.path = p.path
                e.requested = p.requested
                e.pathIncomplete = p.incomplete
            }
        case .exit:
            e.exitCode = Int32(truncatingIfNeeded: a[0])
            let sig = Int32(truncatingIfNeeded: a[1])
            e.signal = sig == 0 ? nil : sig
        case .bare:
            break
        case .target:
            e.target = a[0] == 0 ? nil : Int32(truncatingIfNeeded: a[0])
        case .xattr:
            e.flags = a[0]
            e.bytes = Int64(bitPattern: a[1])
            try setPath(0)
            e.name = try text(2)
            if e.name == "security.capability" { e.capPermitted = a[2] }
        case .ioctl:
            e.fd = Int32(truncatingIfNeeded: a[0])
            e.request = Int64(bitPattern: a[1])
            try setPath(0)
        case .ids:
            e.ids = (0..<3).map { Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: a[$0]))) }
            e.idCall = idCallName(kind, a[3])
        case .capabilities:
            e.capEffective = a[0]
            e.capPermitted = a[1]
            e.capInheritable = a[2]
        case .open:
            e.flags = a[0]
            e.mode = UInt32(truncatingIfNeeded: a[1])
            if e.flags! & OpenFlags.create == 0 && e.flags! & OpenFlags.tmpfile != OpenFlags.tmpfile { e.mode = nil }
            if r.guard != 0 { e.size = Int64(bitPattern: a[2]) }
            try setPath(0)
        case .twoPaths, .pathPair:
            if kind.layout == .twoPaths { e.flags = a[0] }
            try setPath(0)
            try setNewPath(2)
        case .symlink:
            e.linkTarget = try text(1)
            try setPath(2)
        case .path:
            try setPath(0)
        case .modePath:
            e.mode = UInt32(truncatingIfNeeded: a[0])
            try setPath(0)
        case .ownerPath:
            e.owner = UInt32(truncatingIfNeeded: a[0])
            e.group = UInt32(truncatingIfNeeded: a[1])
            try setPath(0)
        case .lengthPath:
            e.length = Int64(bitPattern: a[0])
            try setPath(0)
        case .devicePath:
            e.mode = UInt32(truncatingIfNeeded: a[0])
            e.dev = a[1]
            try setPath(0)
        case .flagsPath:
            e.flags = a[0]
            try setPath(0)
        case .address, .listen, .sendto:
            e.fd = Int32(truncatingIfNeeded: a[0])
            if kind.layout == .sendto { e.bytes = Int64(bitPattern: a[1]) }
            if kind.layout == .listen { e.request = Int64(Int32(truncatingIfNeeded: a[1])) }
            decodeAddress(&e, r, try text(1), flags(1))
            if kind == .connect, a[3] & UInt64(TE_PEER_KNOWN) != 0 {
                e.reached = Reached(pid: Int32(truncatingIfNeeded: a[2]), uid: UInt32(truncatingIfNeeded: a[3] >> 32),
                                    member: a[3] & UInt64(TE_PEER_MEMBER) != 0,
                                    deputy: a[3] & UInt64(TE_PEER_DEPUTY) != 0 ? Deputies.name(UInt32(truncatingIfNeeded: a[3] >> 8 & 0xff)) : nil,
                                    activated: a[3] & UInt64(TE_PEER_ACTIVATED) != 0)
            }
            // a relative unix socket path, against the cwd the kernel put beside it
            if e.family == .unix, let a = e.addr, !a.hasPrefix("/"), !a.hasPrefix("@"), flags(0) & UInt8(TE_STRF_BASE) != 0,
               flags(0) & UInt8(TE_STRF_FAULT) == 0, let base = try text(0) {
                e.addr = Paths.join(base, a)
            }
        case .socket:
            e.socketDomain = Int32(truncatingIfNeeded: a[0])
            e.socketType = Int32(truncatingIfNeeded: a[1])
            e.socketProtocol = Int32(truncatingIfNeeded: a[2])
        case .sysctl:
            e.path = "/proc/sys/" + (try text(1) ?? "")
        case .device:
            e.op = [(1, "mknod"), (2, "read"), (4, "write")].filter { a[0] & $0.0 != 0 }.map { $0.1 }.joined(separator: ",")
            e.dev = (a[1] << 8 & 0xfff00) | (a[2] & 0xff) | ((a[2] & ~0xff) << 12) | ((a[1] & ~0xfff) << 32)
            e.deviceType = a[3] == 1 ? "block" : "char"
        case .ptrace:
            e.request = Int64(bitPattern: a[0])
            e.target = Int32(truncatingIfNeeded: a[1])
        case .mount:
            e.flags = a[0]
            try setPath(0)
            e.source = try text(2)
            e.fstype = try text(3)
        case .mountAPI:
            e.op = mountAPIName(a[0])
            e.flags = a[1]
            if a[0] == UInt64(TE_MAPI_FSOPEN.rawValue) {
                e.fstype = try text(1)
            } else {
                if slots[0].enc != 0 || slots[1].enc != 0 { try setPath(0) }
                if slots[2].enc != 0 || slots[3].enc != 0 { try setNewPath(2) }
            }
        case .namespaceFlags:
            e.flags = a[0]
        case .setns:
            e.fd = Int32(truncatingIfNeeded: a[0])
            e.flags = a[1]
        case .module:
            e.op = a[0] == 2 ? "finit_module" : "init_module"
            e.flags = a[1]
            if a[0] == 2 { e.path = try text(0) }
            e.params = try text(1)
        case .command:
            e.command = Int64(bitPattern: a[0])
        case .memfd:
            e.flags = a[0]
            e.name = try text(1)
        case .ioUring:
            e.entries = UInt32(truncatingIfNeeded: a[0])
            e.flags = a[1]
        case .loss:
            e.lost = a[0]
            e.op = UInt16(exactly: a[1]).flatMap { EventKind(abiNumber: $0) }?.rawValue ?? "kind \(a[1])"
        case .signal:
            e.target = Int32(truncatingIfNeeded: a[0])
            e.signal = Int32(truncatingIfNeeded: a[1])
            e.via = RecordDecoder.signalVia[Int(min(a[2], UInt64(RecordDecoder.signalVia.count - 1)))]
            if a[3] & UInt64(TE_TARGET_KNOWN) != 0 {
                e.reached = Reached(pid: e.target ?? 0, uid: UInt32(truncatingIfNeeded: a[3] >> 32), exe: try text(0),
                                    comm: a[3] & UInt64(TE_TARGET_COMM) != 0)
            }
        }
        return e
    }

    /// te_kill_via, by number (an unknown one reads as "").
    static let signalVia = ["", "kill", "tkill", "tgkill", "pidfd_send_signal", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "setown", ""]

    /// Leaf-first NUL-terminated dentry names -> "/a/b/c", built in one pass from the end.
    static func dpath(_ b: UnsafeRawBufferPointer) -> String {
        let slash = UInt8(ascii: "/")
        let s = String(unsafeUninitializedCapacity: b.count + 1) { out in
            var n = 0
            var end = b.count
            while end > 0 {
                // one name: b[start..<end], the NULs around it skipped
                while end > 0 && b[end - 1] == 0 { end -= 1 }
                var start = end
                while start > 0 && b[start - 1] != 0 { start -= 1 }
                if start == end { break }
                if !(end - start == 1 && b[start] == slash) { // a filesystem root's own name
                    out[n] = slash
                    n += 1
                    for i in start..<end { out[n] = b[i]; n += 1 }
                }
                end = start
            }
            return n
        }
        return s.isEmpty ? "/" : s
    }

    /// A C array of four, indexed without building a Swift array per record.
    struct Four<T> {
        let t: (T, T, T, T)
        init(_ t: (T, T, T, T)) { self.t = t }
        subscript(i: Int) -> T {
            switch i {
            case 0: return t.0
            case 1: return t.1
            case 2: return t.2
            default: return t.3
            }
        }
    }

    static func cString<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { b in
            let n = b.firstIndex(of: 0) ?? b.count
            return String(decoding: UnsafeRawBufferPointer(rebasing: b[0..<n]), as: UTF8.self)
        }
    }

    static func decodeAddress(_ e: inout Event, _ r: te_event, _ unixPath: String?, _ unixFlags: UInt8) {
        switch Int32(r.family) {
        case AF_INET_:
            e.family = .inet
            e.port = r.port
            e.addr = withUnsafeBytes(of: r.addr) { b in "\(b[0]).\(b[1]).\(b[2]).\(b[3])" }
        case AF_INET6_:
            e.family = .inet6
            e.port = r.port
            e.addr = withUnsafeBytes(of: r.addr) { ipv6Text(Array($0)) }
        case AF_UNIX_:
            e.family = .unix
            if let p = unixPath { e.addr = unixFlags & UInt8(TE_STRF_ABSTRACT) != 0 ? "@" + p : p }
        default:
            break
        }
    }

    static func idCallName(_ kind: EventKind, _ variant: UInt64) -> String {
        let x = kind == .setuid ? "uid" : "gid"
        switch variant {
        case 2: return "setre" + x
        case 3: return "setres" + x
        case 4: return "setfs" + x
        default: return "set" + x
        }
    }

    static func mountAPIName(_ op: UInt64) -> String {
        switch UInt32(op) {
        case TE_MAPI_FSOPEN.rawValue: return "fsopen"
        case TE_MAPI_FSMOUNT.rawValue: return "fsmount"
        case TE_MAPI_MOVE_MOUNT.rawValue: return "move_mount"
        case TE_MAPI_OPEN_TREE.rawValue: return "open_tree"
        case TE_MAPI_FSPICK.rawValue: return "fspick"
        case TE_MAPI_MOUNT_SETATTR.rawValue: return "mount_setattr"
        default: return "mount_api_\(op)"
        }
    }
}

private let AF_UNIX_: Int32 = 1
private let AF_INET_: Int32 = 2
private let AF_INET6_: Int32 = 10

/// RFC 5952 text for a 16-byte IPv6 address (IPv4-mapped shown as ::ffff:a.b.c.d).
public func ipv6Text(_ b: [UInt8]) -> String {
    precondition(b.count == 16)
    if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff {
        return "::ffff:\(b[12]).\(b[13]).\(b[14]).\(b[15])"
    }
    let words = (0..<8).map { UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]) }
    // longest run of zero words (length >= 2) becomes "::"
    var bestStart = -1, bestLen = 0, i = 0
    while i < 8 {
        if words[i] == 0 {
            var j = i
            while j < 8 && words[j] == 0 { j += 1 }
            if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
            i = j
        } else { i += 1 }
    }
    func hex(_ r: Range<Int>) -> String { r.map { String(words[$0], radix: 16) }.joined(separator: ":") }
    if bestStart < 0 { return hex(0..<8) }
    return hex(0..<bestStart) + "::" + hex((bestStart + bestLen)..<8)
}
