import Foundation
import TetherCore

/// How an events file encodes each event: Tether's own JSON lines, or OCSF records.
public enum EventFormat: String, Sendable, FileFormat {
    case tether, ocsf

    public static var plain: EventFormat { .tether }

    public func encode(_ e: Event) -> String {
        switch self {
        case .tether: return EventJSON.encode(e)
        case .ocsf: return OCSFEvents.encode(e)
        }
    }
}

/// A session event as one OCSF 1.2.0 record (README, `--events FILE,format=ocsf`, with the
/// table of every kind's class and activity): process events as
/// Process Activity (1007), file events as File System Activity (1001), socket events as
/// Network Activity (4001). Every kind has a class, so a consumer filtering on these three
/// misses nothing; what no 1.2.0 activity describes is Other (99), named by Tether's kind.
/// The event as Tether writes it is kept whole under `unmapped.tether`.
public enum OCSFEvents {
    public enum EventClass: Int, Sendable {
        case fileSystemActivity = 1001, processActivity = 1007, networkActivity = 4001

        public var name: String {
            switch self {
            case .fileSystemActivity: return "File System Activity"
            case .processActivity: return "Process Activity"
            case .networkActivity: return "Network Activity"
            }
        }

        public var category: (uid: Int, name: String) {
            self == .networkActivity ? (4, "Network Activity") : (1, "System Activity")
        }
    }

    public struct Activity: Equatable, Sendable {
        public var eventClass: EventClass
        public var id: Int
        public var name: String
        public var typeUID: Int { eventClass.rawValue * 100 + id }
    }

    /// ptrace requests that change the tracee (its memory, user area or registers): an
    /// injection. The rest read it or attach to it: an open.
    static let ptraceWrites: Set<Int64> = [4, 5, 6, 13, 15, 0x4203, 0x4205] // POKETEXT POKEDATA POKEUSER SETREGS SETFPREGS SETSIGINFO SETREGSET

    public static func activity(_ e: Event) -> Activity {
        func process(_ id: Int, _ name: String) -> Activity { Activity(eventClass: .processActivity, id: id, name: name) }
        func file(_ id: Int, _ name: String) -> Activity { Activity(eventClass: .fileSystemActivity, id: id, name: name) }
        func network(_ id: Int, _ name: String) -> Activity { Activity(eventClass: .networkActivity, id: id, name: name) }
        let other = e.kind.rawValue
        switch e.kind {
        case .fork, .exec: return process(1, "Launch")
        case .exit: return process(2, "Terminate")
        case .kill: return e.signal == SIGKILL || e.signal == SIGTERM ? process(2, "Terminate") : process(99, other)
        case .ptrace: return ptraceWrites.contains(e.request ?? -1) ? process(4, "Inject") : process(3, "Open")
        case .setuid: return process(5, "Set User ID")
        case .setgid, .capset, .setsid, .unshare, .setns, .module, .bpf, .ioUring, .restricted, .loss, .ioctl: return process(99, other)
        case .open:
            let f = e.flags ?? 0
            if f & OpenFlags.path != 0 { return file(14, "Open") } // a handle, no access to the content
            // O_CREAT on a file that was there is an open: the syscall does not say which it was
            if f & OpenFlags.create != 0 || f & OpenFlags.tmpfile == OpenFlags.tmpfile { return file(1, "Create") }
            return e.isWriteOpen ? file(3, "Update") : file(2, "Read")
        case .rename: return file(5, "Rename")
        case .link, .symlink, .mkdir, .mknod, .memfd: return file(1, "Create")
        case .unlink, .rmdir: return file(4, "Delete")
        case .chmod: return file(6, "Set Attributes")
        case .chown, .setxattr: return file(7, "Set Security")
        case .truncate, .sysctl: return file(3, "Update")
        case .mount: return file(12, "Mount")
        case .umount: return file(13, "Unmount")
        case .mountAPI: return e.op == "move_mount" ? file(12, "Mount") : file(99, other)
        case .pivotRoot, .chroot: return file(99, other)
        case .device:
            let ops = (e.op ?? "").split(separator: ",")
            if ops.contains("mknod") { return file(1, "Create") }
            if ops.contains("write") { return file(3, "Update") }
            return ops.contains("read") ? file(2, "Read") : file(99, other)
        case .connect:
            if e.succeeded || e.result == -Int64(EINPROGRESS) { return network(1, "Open") }
            // a refusal by the peer, a firewall or Tether's egress guard
            if [ECONNREFUSED, EACCES, EPERM].contains(where: { e.result == -Int64($0) }) { return network(5, "Refuse") }
            return network(4, "Fail")
        case .sendto: return network(6, "Traffic")
        case .listen: return network(7, "Listen")
        case .bind, .socket: return network(99, other)
        }
    }

    /// OCSF's status from the syscall's result: the errno's name as `status_code`.
    static func status(_ e: Event) -> (id: Int, name: String, code: String?) {
        // a non-blocking connect under way: its outcome comes later, not from this call
        if e.kind == .connect && e.result == -Int64(EINPROGRESS) { return (0, "Unknown", Errno.name(EINPROGRESS)) }
        if e.result >= 0 { return (1, "Success", nil) }
        if e.result >= -4095 { return (2, "Failure", Errno.name(Int32(-e.result))) } // the kernel's errno range
        return (99, "Other", String(e.result))
    }

    /// CLOCK_REALTIME minus CLOCK_BOOTTIME, ns: the offset from an event's time to the wall clock.
    public static func bootToWallNanos() -> Int64 {
        var boot = timespec(), real = timespec()
        clock_gettime(CLOCK_BOOTTIME, &boot)
        clock_gettime(CLOCK_REALTIME, &real)
        return (Int64(real.tv_sec) - Int64(boot.tv_sec)) * 1_000_000_000 + (Int64(real.tv_nsec) - Int64(boot.tv_nsec))
    }

    /// Linux's dev_t split as glibc's major()/minor() do.
    static func deviceNumbers(_ dev: UInt64) -> (major: UInt64, minor: UInt64) {
        (((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000), (dev & 0xff) | ((dev >> 12) & 0xffff_ff00))
    }

    /// The file a File System Activity is about, typed where the kind says what it is.
    static func file(_ e: Event) -> String {
        typealias T = OCSFJSON.FileType
        switch e.kind {
        case .open:
            let f = e.flags ?? 0
            let tmp = f & OpenFlags.tmpfile == OpenFlags.tmpfile
            // O_CREAT only ever creates a regular file; without it the open says nothing of the type
            let type: T = !tmp && f & OpenFlags.directory != 0 ? .folder : (tmp || f & OpenFlags.create != 0 ? .regular : .unknown)
            return OCSFJSON.file(e.path, type: type)
        case .link: return OCSFJSON.file(e.newPath ?? e.path, type: .unknown) // what is created: the new name
        case .symlink: return OCSFJSON.file(e.path, type: .symbolicLink)
        case .mkdir, .rmdir, .chroot, .pivotRoot: return OCSFJSON.file(e.path, type: .folder)
        case .mknod: return OCSFJSON.file(e.path, type: T(mode: e.mode ?? 0))
        case .sysctl: return OCSFJSON.file(e.path, type: .regular)
        case .chown: return OCSFJSON.file(e.path, type: .unknown, owner: e.owner == UInt32.max ? nil : e.owner) // -1: unchanged
        case .memfd: return OCSFJSON.file(nil, name: "memfd:" + (e.name ?? ""), type: .regular)
        case .device:
            let (major, minor) = deviceNumbers(e.dev ?? 0)
            return OCSFJSON.file(nil, name: "\(major):\(minor)", type: e.deviceType == "block" ? .blockDevice : .characterDevice)
        case .mountAPI where e.path == nil: return OCSFJSON.file(nil, name: e.fstype ?? e.op ?? "", type: .unknown) // fsopen: a filesystem type, no path yet
        default: return OCSFJSON.file(e.path, type: .unknown)
        }
    }

    static func pidOnly(_ pid: Int32) -> String {
        var w = JSONObjectWriter(capacity: 24)
        w.int("pid", Int64(pid))
        return w.finish()
    }

    /// The event as one OCSF record; `bootToWall` turns its boot-clock time into the wall
    /// clock's (a parameter so that a test's output is fixed).
    public static func encode(_ e: Event, bootToWall: Int64 = bootToWallNanos()) -> String {
        let a = activity(e)
        let s = status(e)
        let (wall, overflow) = Int64(clamping: e.time).addingReportingOverflow(bootToWall)
        let parent = e.ppid > 0 ? pidOnly(e.ppid) : nil
        // the process the syscall ran in; after an exec its exe and comm are the new image's
        let caller = OCSFJSON.process(pid: e.pid, tid: e.tid, argv: nil, exe: e.exe, comm: e.comm, cwd: nil, uid: e.uid, parent: parent)
        var w = JSONObjectWriter(capacity: 2048)
        w.int("class_uid", Int64(a.eventClass.rawValue))
        w.string("class_name", a.eventClass.name)
        w.int("category_uid", Int64(a.eventClass.category.uid))
        w.string("category_name", a.eventClass.category.name)
        w.int("activity_id", Int64(a.id))
        w.string("activity_name", a.name)
        w.int("type_uid", Int64(a.typeUID))
        w.string("type_name", a.eventClass.name + ": " + a.name)
        w.int("time", (overflow ? Int64.max : wall) / 1_000_000)
        w.int("severity_id", 1)
        w.string("severity", "Informational")
        w.int("status_id", Int64(s.id))
        w.string("status", s.name)
        w.optString("status_code", s.code)
        w.raw("metadata", OCSFJSON.metadata(correlation: e.session.description))
        w.raw("device", OCSFJSON.device)
        w.raw("actor", "{\"process\":" + caller + "}")
        switch a.eventClass {
        case .processActivity:
            switch e.kind {
            case .exec:
                // a failed exec names what it tried to run; the caller keeps its image
                w.raw("process", OCSFJSON.process(pid: e.pid, tid: e.tid, argv: e.argv, exe: e.path ?? e.exe, comm: e.succeeded ? e.comm : nil,
                                                  cwd: e.cwd, uid: e.uid, parent: parent))
            case .fork:
                w.raw("process", e.target.map { OCSFJSON.process(pid: $0, argv: nil, exe: e.exe, comm: e.comm, cwd: nil, uid: e.uid, parent: pidOnly(e.pid)) } ?? caller)
            case .kill, .ptrace:
                w.raw("process", e.target.map(pidOnly) ?? caller) // as given: kill's may be a process group (< 0)
            default:
                w.raw("process", caller)
            }
            if e.kind == .exit, let code = e.exitCode { w.int("exit_code", Int64(code)) }
        case .fileSystemActivity:
            w.raw("file", file(e))
            if e.kind == .rename, let to = e.newPath { w.raw("file_result", OCSFJSON.file(to, type: .unknown)) }
        case .networkActivity:
            // addr/port are the peer for connect and sendto, this host's own address for bind and listen
            let local = e.kind != .connect && e.kind != .sendto
            w.raw("dst_endpoint", OCSFJSON.endpoint(e.addr, port: e.family == .unix ? nil : e.port, hostname: local ? FalcoJSON.hostname : nil))
            w.raw("src_endpoint", local ? "{}" : OCSFJSON.endpoint(nil, port: nil, hostname: FalcoJSON.hostname))
            var c = JSONObjectWriter(capacity: 96)
            let direction: (Int64, String) = e.kind == .socket ? (0, "Unknown") : local ? (1, "Inbound") : (2, "Outbound")
            c.int("direction_id", direction.0)
            c.string("direction", direction.1)
            switch e.family {
            case .inet?: c.int("protocol_ver_id", 4)
            case .inet6?: c.int("protocol_ver_id", 6)
            default: break
            }
            w.raw("connection_info", c.finish())
            if e.kind == .sendto && e.succeeded { w.raw("traffic", "{\"bytes_out\":\(e.result)}") }
        }
        w.raw("unmapped", "{\"tether\":" + EventJSON.encode(e) + "}")
        return w.finish()
    }
}
