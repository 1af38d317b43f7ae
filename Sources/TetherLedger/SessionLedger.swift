import Foundation
import TetherCore
import TetherExport

/// One session's ledger while it runs: entries as the events come (every exec with argv,
/// cwd and uid, forks, exits; every file change outside the workspace; the first of each
/// network destination per process; privileged operations; findings), counts for what is
/// only counted (changes inside the workspace per directory, each destination's uses), and
/// at the end what the session left behind.
final class SessionLedger {
    let session: SessionID
    let root: Int32
    let workspace: String?
    private let file: LedgerFile
    private(set) var settled = false
    private(set) var rootExit: UInt64?
    private var lostAtStart: UInt64?

    /// Changes inside the workspace per directory (relative; "." for the workspace itself).
    private var workspaceChanges: [String: UInt64] = [:]
    /// Each destination's uses: (op, family, address, port, refused) -> count.
    private var destinations: [NetKey: UInt64] = [:]
    /// Per process and destination, only the first use is an entry.
    private var seenDestinations: Set<PidNet> = []
    /// Paths outside the workspace the session created or changed (successfully), with the
    /// last operation: checked at the end for what is still there.
    private var touched: [String: String] = [:]
    private var touchedOrder: [String] = []
    /// Persistence locations the findings named.
    private var persistence: [String] = []
    private var fileChangesOutside: UInt64 = 0
    private var privilegedCount: UInt64 = 0

    static let mapLimit = 8192

    struct NetKey: Hashable { var op: String; var family: String; var addr: String; var port: UInt16; var refused: Bool }
    struct PidNet: Hashable { var pid: Int32; var key: NetKey }

    var failure: String? { file.failure }

    init(session: SessionID, info: LedgerBook.SessionInfo?, options: LedgerBook.Options, lost: UInt64?, made: (String) -> Void = { _ in }) throws {
        self.session = session
        lostAtStart = lost
        root = info?.root ?? 0
        workspace = info?.workspace.map(Paths.normalize)
        file = try LedgerFile(directory: options.directory + "/" + session.description, cap: options.capBytes, made: made)
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count - 1) == 0 ? String(cString: name) : "" // no resolver lookup
        if file.resumed {
            file.append("resumed", time: BootClock.nanoseconds(), closing: true) { w in
                w.string("note", "Tether restarted: what the session did while no instance ran is not in this ledger")
            }
            return
        }
        file.append("begin", time: BootClock.nanoseconds(), closing: true) { w in
            w.hex64("session", session.raw)
            w.string("host", host)
            w.int("root", Int64(info?.root ?? 0))
            w.string("agent", info?.agent ?? "")
            w.optString("label", info?.label)
            w.optString("workspace", self.workspace)
            w.bool("confined", info?.confined ?? false)
            w.uint("cap_bytes", options.capBytes)
        }
        file.flush() // on disk before the session's first instruction: never an empty file
    }

    /// Whether `e` can be an entry or a count (the cheap test, before any lock).
    static func records(_ e: Event) -> Bool {
        switch e.kind {
        case .open: return (e.flags ?? 0) & (OpenFlags.accessMask | OpenFlags.create | OpenFlags.truncate) != 0
        case .exec: return e.result == 0
        case .fork, .exit, .rename, .link, .symlink, .unlink, .rmdir, .mkdir, .chmod, .chown, .truncate, .mknod,
             .connect, .bind, .listen, .sendto, .setuid, .setgid, .capset, .ptrace, .mount, .umount, .pivotRoot, .chroot,
             .mountAPI, .unshare, .setns, .module, .bpf, .ioUring, .kill, .sysctl, .device, .restricted, .setxattr, .ioctl:
            return true
        default: return false
        }
    }

    func observe(_ e: Event) {
        switch e.kind {
        case .exec:
            file.append("exec", time: e.time) { w in
                w.int("pid", Int64(e.pid)); w.int("ppid", Int64(e.ppid)); w.uint("uid", UInt64(e.uid))
                w.optString("exe", e.exe ?? e.path); w.strings("argv", e.argv ?? [])
                if e.argvTruncated { w.bool("argv_truncated", true) }
                w.optString("cwd", e.cwd)
            }
        case .fork:
            guard let child = e.target else { return }
            file.append("fork", time: e.time) { w in
                w.int("pid", Int64(e.pid)); w.int("child", Int64(child))
                if let d = e.adoptedFrom { w.int("deputy", Int64(d)) } // the parent is a deputy outside the session
            }
        case .exit:
            if e.pid == root { rootExit = e.time }
            file.append("exit", time: e.time) { w in
                w.int("pid", Int64(e.pid))
                if let c = e.exitCode { w.int("code", Int64(c)) }
                if let s = e.signal { w.int("signal", Int64(s)) }
            }
        case .open:
            let f = e.flags ?? 0
            let op = f & OpenFlags.truncate != 0 ? "truncate" : f & OpenFlags.create != 0 ? "create" : "write"
            fileEffect(e, op: op, path: e.path)
        case .rename: fileEffect(e, op: "rename", path: e.path, to: e.newPath)
        case .link: fileEffect(e, op: "link", path: e.path, to: e.newPath)
        case .symlink: fileEffect(e, op: "symlink", path: e.path, target: e.linkTarget)
        case .unlink: fileEffect(e, op: "delete", path: e.path)
        case .rmdir: fileEffect(e, op: "rmdir", path: e.path)
        case .mkdir: fileEffect(e, op: "mkdir", path: e.path)
        case .chmod: fileEffect(e, op: "chmod", path: e.path)
        case .chown: fileEffect(e, op: "chown", path: e.path)
        case .truncate: fileEffect(e, op: "truncate", path: e.path)
        case .mknod: fileEffect(e, op: "mknod", path: e.path)
        case .connect, .bind, .listen, .sendto: network(e)
        default: privileged(e)
        }
    }

    /// Devices and pseudo-files a shell writes to all the time are not file effects.
    static func ignored(_ path: String) -> Bool {
        !path.hasPrefix("/") || path == "/dev/null" || path == "/dev/zero" || path == "/dev/full" || path == "/dev/tty"
            || path.hasPrefix("/dev/pts/") || path.hasPrefix("/proc/self/fd/") || path.hasPrefix("/dev/fd/")
    }

    private func inside(_ path: String) -> String? {
        guard let ws = workspace, Paths.isWithin(path, ws) else { return nil }
        return SessionLedger.directory(of: path, in: ws)
    }

    /// The directory of `path` relative to `root` (which contains it): "." for `root` itself
    /// and its entries, else "a/b". On bytes: a path is the kernel's, any bytes but NUL.
    static func directory(of path: String, in root: String) -> String {
        let p = Array(path.utf8), skip = root == "/" ? 1 : root.utf8.count + 1
        guard p.count > skip, let slash = p[skip...].lastIndex(of: UInt8(ascii: "/")), slash > skip else { return "." }
        return String(decoding: p[skip..<slash], as: UTF8.self)
    }

    private func fileEffect(_ e: Event, op: String, path: String?, to: String? = nil, target: String? = nil) {
        guard let path, !SessionLedger.ignored(path) else { return }
        let ok = e.result >= 0
        if let dir = inside(path), to.map({ inside($0) != nil }) ?? true {
            count(&workspaceChanges, workspaceChanges.count < SessionLedger.mapLimit ? dir : "(other directories)")
            return
        }
        if ok { touch(to ?? path, op: op); if op == "rename", inside(path) == nil { touch(path, op: "renamed away") } }
        file.append("file", time: e.time) { w in
            w.string("op", op); w.string("path", path)
            w.optString("to", to); w.optString("target", target)
            w.int("pid", Int64(e.pid))
            if !ok { w.string("error", Errno.name(Int32(truncatingIfNeeded: -e.result))) }
            if !e.guardActions.isEmpty { w.strings("guard", e.guardActions.names) }
        }
        fileChangesOutside += 1
    }

    private func touch(_ path: String, op: String) {
        if touched[path] == nil {
            guard touchedOrder.count < SessionLedger.mapLimit else { return }
            touchedOrder.append(path)
        }
        touched[path] = op
    }

    private func network(_ e: Event) {
        let refused = e.guardActions.contains(.refused) || e.result == -Int64(EPERM) || e.result == -Int64(EACCES)
        let key = NetKey(op: e.kind.rawValue, family: e.family?.rawValue ?? "", addr: e.addr ?? "", port: e.port ?? 0, refused: refused)
        if destinations[key] != nil || destinations.count < SessionLedger.mapLimit { destinations[key, default: 0] += 1 }
        let first = PidNet(pid: e.pid, key: key)
        guard !seenDestinations.contains(first) else { return }
        if seenDestinations.count < SessionLedger.mapLimit { seenDestinations.insert(first) }
        file.append("net", time: e.time) { w in
            w.string("op", key.op); w.string("family", key.family); w.string("addr", key.addr)
            if key.port != 0 { w.uint("port", UInt64(key.port)) }
            w.int("pid", Int64(e.pid))
            if refused { w.bool("refused", true) }
            if e.result < 0 { w.string("error", Errno.name(Int32(truncatingIfNeeded: -e.result))) }
        }
    }

    private func privileged(_ e: Event) {
        file.append("priv", time: e.time) { w in
            w.string("kind", e.kind.rawValue)
            w.int("pid", Int64(e.pid))
            w.int("syscall", Int64(e.syscall))
            w.optString("path", e.path); w.optString("name", e.name)
            if let t = e.target { w.int("target", Int64(t)) }
            if let s = e.signal { w.int("signal", Int64(s)) }
            if let f = e.flags { w.uint("flags", f) }
            if let op = e.op { w.string("op", op) }
            if e.result < 0 { w.string("error", Errno.name(Int32(truncatingIfNeeded: -e.result))) }
            if !e.guardActions.isEmpty { w.strings("guard", e.guardActions.names) }
        }
        privilegedCount += 1
    }

    func finding(_ a: AlertRecord, time: UInt64) {
        if a.rule.hasPrefix("persist."), let p = a.path, !persistence.contains(p), persistence.count < 1024 { persistence.append(p) }
        file.append("finding", time: time) { w in
            w.string("rule", a.rule); w.string("severity", a.severity.rawValue); w.string("message", a.message)
            w.optString("outcome", a.outcome); w.bool("enforced", a.enforced); w.string("action", a.action)
            if let p = a.pid { w.int("pid", Int64(p)) }
            w.optString("path", a.path); w.optString("address", a.address); w.optString("mitre", a.mitre.isEmpty ? nil : a.mitre)
        }
        file.flush()
    }

    private func count(_ m: inout [String: UInt64], _ k: String) { m[k, default: 0] += 1 }

    /// Writes what the session left behind and the summary; returns the session-end alert.
    func settle(members: [ProcessRecord], lost: UInt64?, time: UInt64) -> AlertRecord {
        settled = true
        let left = LeftBehind.check(members: members, touched: touchedOrder.map { ($0, touched[$0] ?? "") }, persistence: persistence)
        file.append("left_behind", time: time, closing: true) { w in left.write(&w) }
        let lostNow = lost.map { l in lostAtStart.map { l >= $0 ? l - $0 : l } ?? l }
        file.append("summary", time: time, closing: true) { w in
            w.raw("workspace_changes", SessionLedger.object(self.workspaceChanges.sorted { $0.value > $1.value }.prefix(1000).map { ($0.key, $0.value) }))
            w.raw("destinations", SessionLedger.destinationsJSON(self.destinations))
            w.uint("file_changes_outside", self.fileChangesOutside)
            w.uint("privileged", self.privilegedCount)
            if let lostNow { w.uint("events_lost_host", lostNow) }
            w.uint("entries_not_written", self.file.dropped)
        }
        file.flush()
        let head = file.head, entries = file.seq
        let summary = left.members.isEmpty && left.files.isEmpty
            ? "nothing left running, no file outside the workspace left changed"
            : "\(left.members.count) process(es) still running, \(left.files.filter { $0.sha256 != nil }.count) file(s) outside the workspace left changed"
        return AlertRecord(rule: "tether.session_ended", severity: left.members.isEmpty ? .low : .medium,
                           message: "session ledger settled: \(entries) entries, head \(head); \(summary)",
                           session: session.description, action: "alert",
                           details: ["ledger": file.path, "ledger_head": head, "ledger_entries": String(entries),
                                     "left_running": String(left.members.count)])
    }

    func close(reason: String, time: UInt64) {
        file.append("end", time: time, closing: true) { w in
            w.string("reason", reason)
            w.uint("entries_not_written", self.file.dropped)
        }
        file.close()
    }

    func flush() { file.flush() }

    static func object(_ pairs: [(String, UInt64)]) -> String {
        var w = JSONDynamicWriter()
        for (k, v) in pairs { w.uint(k, v) }
        return w.finish()
    }

    static func destinationsJSON(_ d: [NetKey: UInt64]) -> String {
        let rows = d.sorted { $0.value > $1.value }.prefix(1000).map { k, n -> String in
            var w = JSONObjectWriter(capacity: 128)
            w.string("op", k.op); w.string("family", k.family); w.string("addr", k.addr)
            if k.port != 0 { w.uint("port", UInt64(k.port)) }
            if k.refused { w.bool("refused", true) }
            w.uint("count", n)
            return w.finish()
        }
        return "[" + rows.joined(separator: ",") + "]"
    }
}

/// A JSON object whose keys are data (directory names), escaped like values.
struct JSONDynamicWriter {
    private var parts: [String] = []
    mutating func uint(_ k: String, _ v: UInt64) { parts.append(JSONDynamicWriter.quote(k) + ":" + String(v)) }
    func finish() -> String { "{" + parts.joined(separator: ",") + "}" }
    static func quote(_ s: String) -> String {
        var w = JSONObjectWriter(capacity: s.utf8.count + 16)
        w.string("k", s)
        let o = w.finish() // {"k":"..."}
        return String(o.dropFirst(5).dropLast())
    }
}
