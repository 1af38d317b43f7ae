import Foundation
import TetherCore

/// What only the live host can tell about an event, looked up before the pure core sees
/// it (never for a recording, which may come from another host).
extension Event {
    /// A rename/link/symlink/mkdir destination the kernel could not resolve (a symlinked
    /// directory on the way, a crowded one: its path here is lexical) is resolved now, in user space,
    /// so that rules see where it landed. The caller's string stays in `requested`.
    /// A symlink on the way may have been swapped since, though: so the name it made is
    /// also looked for among the guarded persistence locations (`GuardedLocations`), and
    /// one changed since the call (its inode's change time, which no caller can set back)
    /// is where it landed.
    mutating func resolveUnresolvedDestination() {
        guard guardActions.contains(.unresolved), succeeded else { return }
        let moved = kind == .rename || kind == .link // their destination is the second path
        guard let p = moved ? newPath : path else { return }
        var r = HostPaths.resolvingDirectory(p) ?? p
        let name = p[(p.lastIndex(of: "/").map { p.index(after: $0) } ?? p.startIndex)...]
        if let landed = HostPaths.changedSince(time, among: GuardedLocations.candidates(named: name)), landed != r {
            r = landed
        }
        guard r != p else { return }
        if moved {
            if newRequested == nil { newRequested = p }
            newPath = r
        } else {
            if requested == nil { requested = p }
            path = r
        }
    }
}

extension Event {
    /// A path the kernel did not resolve that goes through a /proc magic link
    /// (`/proc/self/cwd/x`, `/proc/thread-self/root/x`, `/proc/PID/fd/N`): spelled so, it
    /// names the *caller's* cwd, root or open file, not ours, so it is resolved through the
    /// caller's /proc entry, now, while the caller lives. Once the caller is gone nobody can
    /// say where it led: the event says so (`pathUnresolved`), and that is a finding.
    mutating func resolveProcMagicLinks() {
        // a successful open's path is the opened file's own, from the kernel: never a link's spelling
        guard !(kind == .open && succeeded), kind != .exec || !succeeded else { return }
        if let p = path, let r = HostPaths.throughProc(p, pid: pid, tid: tid) {
            if requested == nil { requested = p }
            if let real = r { path = real } else { pathUnresolved = true }
        }
        if let p = newPath, let r = HostPaths.throughProc(p, pid: pid, tid: tid) {
            if newRequested == nil { newRequested = p }
            if let real = r { newPath = real } else { pathUnresolved = true }
        }
    }
}

extension Event {
    /// A hard link's existing name, with its directory resolved on this host (symlinks
    /// followed): the path was read as a string, and `ln /tmp/to-etc/shadow x` with
    /// /tmp/to-etc a symlink to /etc names /etc/shadow. Links are rare: the lookup is cheap.
    mutating func resolveLinkSource() {
        guard kind == .link, let p = path, let r = HostPaths.resolvingDirectory(p), r != p else { return }
        if requested == nil { requested = p }
        path = r
    }
}

extension Event {
    /// A unix socket's path as the caller gave it is a claim: a symlink (`d` → the
    /// container runtime's socket) says nothing of what it reached. The path is resolved
    /// now, symlinks followed (a relative one the decoder already joined to the cwd the
    /// kernel read). The given path stays in `requested`. Abstract sockets have no path.
    mutating func resolveUnixSocketPath() {
        guard kind == .connect || kind == .sendto, family == .unix, let a = addr, a.hasPrefix("/") else { return }
        // a socket that is not there (glibc's nscd probe, ENOENT) reached nothing: no lookup
        guard succeeded || result == -Int64(ECONNREFUSED) || result == -Int64(EACCES) || result == -Int64(EPERM) else { return }
        guard !HostPaths.namesOurOwnProcess(a), let real = realpath(a, nil) else { return }
        defer { free(real) }
        let r = String(cString: real)
        guard r != a else { return }
        if requested == nil { requested = a }
        addr = r
    }
}

enum HostPaths {
    static let proc = Array("/proc/".utf8)
    static let procSelf = Array("/proc/self/".utf8), procThreadSelf = Array("/proc/thread-self/".utf8)

    /// `/proc/self/…` resolved here would be Tether's own process, never the caller's:
    /// such a spelling is only ever resolved by `throughProc`, for the caller's pid.
    static func namesOurOwnProcess(_ path: String) -> Bool {
        path.utf8.starts(with: procSelf) || path.utf8.starts(with: procThreadSelf)
    }

    /// nil: `path` is no magic-link spelling (the common case, decided on its first bytes).
    /// .some(nil): it is one, and the link no longer resolves (the process is gone).
    /// .some(real): where it leads for process `pid` (thread `tid` for thread-self).
    static func throughProc(_ path: String, pid: Int32, tid: Int32) -> String?? {
        guard path.utf8.count > proc.count, path.utf8.starts(with: proc) else { return nil }
        var parts = path.utf8.dropFirst(proc.count).split(separator: UInt8(ascii: "/"), maxSplits: 3, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard parts.count >= 2 else { return nil }
        let owner: String
        switch parts[0] {
        case "self": owner = String(pid)
        case "thread-self": owner = "\(pid)/task/\(tid)"
        default:
            guard !parts[0].isEmpty, parts[0].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            owner = parts[0]
        }
        let link: String
        switch parts[1] {
        case "cwd", "root":
            link = "/proc/\(owner)/\(parts[1])"
            parts.removeFirst(2)
        case "fd":
            guard parts.count >= 3, !parts[2].isEmpty, parts[2].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            link = "/proc/\(owner)/fd/\(parts[2])"
            parts.removeFirst(3)
        default:
            return nil // an ordinary /proc file (status, environ, …): not a link to elsewhere
        }
        let rest = parts.joined(separator: "/")
        if rest.isEmpty {
            // the link itself (chmod /proc/self/fd/5): what it points at
            guard let real = realpath(link, nil) else { return .some(nil) }
            defer { free(real) }
            return .some(String(cString: real))
        }
        // realpath follows the magic link as the kernel does for that process
        return .some(resolvingDirectory(link + "/" + rest))
    }

    /// The first of `paths` (not followed if a symlink) whose inode changed at or after the
    /// boot-clock time `time` (an event's), to the second: a rename, link or symlink sets
    /// the change time of what it made or moved.
    static func changedSince(_ time: UInt64, among paths: [String]) -> String? {
        guard !paths.isEmpty else { return nil }
        let now = BootClock.nanoseconds()
        let ago = now > time ? Double(now - time) / 1e9 : 0
        let since = Int(Date().timeIntervalSince1970 - ago) - 1
        for p in paths {
            var st = stat()
            if lstat(p, &st) == 0, st.st_ctim.tv_sec >= since { return p }
        }
        return nil
    }

    /// `path` with its directory resolved on this host now (symlinks followed), its last
    /// component kept as is; nil if the directory cannot be resolved.
    static func resolvingDirectory(_ path: String) -> String? {
        guard !namesOurOwnProcess(path) else { return nil }
        guard let slash = path.lastIndex(of: "/") else { return nil }
        let dir = slash == path.startIndex ? "/" : String(path[..<slash])
        let name = path[path.index(after: slash)...]
        guard !name.isEmpty, let real = realpath(dir, nil) else { return nil }
        defer { free(real) }
        let resolved = String(cString: real)
        return (resolved == "/" ? "" : resolved) + "/" + name
    }
}

/// Whether a configuration file on this host holds a credential: a key that names a token,
/// a password, a secret or an auth value (`_authToken=`, `password =`), or a URL with a
/// password in it (`https://user:pass@host`). pip.conf and .npmrc usually hold an index URL
/// and nothing secret: read by any pip or npm (a venv's copy the agent can change too), they
/// are a credential read only when they hold one. Read at most 64 KiB (a bigger file counts
/// as holding one), cached by inode, size and change time.
final class CredentialContent: @unchecked Sendable {
    static let shared = CredentialContent()
    private let lock = NSLock()
    private var cache: [String: (stamp: [Int], holds: Bool)] = [:]
    static let limit = 1 << 16

    func holds(_ path: String) -> Bool? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        let stamp = [Int(st.st_dev), Int(st.st_ino), Int(st.st_size), Int(st.st_ctim.tv_sec), Int(st.st_ctim.tv_nsec)]
        lock.lock()
        if let c = cache[path], c.stamp == stamp { lock.unlock(); return c.holds }
        lock.unlock()
        guard st.st_size <= CredentialContent.limit else { return true }
        guard let bytes = HostFiles.read(path, max: CredentialContent.limit) else { return nil }
        let holds = CredentialContent.scan(bytes)
        lock.lock()
        if cache.count >= 256 { cache.removeAll() }
        cache[path] = (stamp, holds)
        lock.unlock()
        return holds
    }

    /// Key words that name a secret, lowercased.
    static let keys = ["token", "password", "passwd", "secret", "_auth", "apikey", "api_key", "api-key", "credential"]

    static func scan(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self).lowercased()
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = raw.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("#") || line.hasPrefix(";") || line.hasPrefix("//") { continue }
            if keys.contains(where: { line.contains($0) }) { return true }
            if urlWithPassword(line) { return true }
        }
        return false
    }

    /// "scheme://user:pass@host": a password in a URL's user info.
    static func urlWithPassword(_ line: Substring) -> Bool {
        var rest = line[...]
        while let r = rest.range(of: "://") {
            let after = rest[r.upperBound...]
            let userinfo = after.prefix { $0 != "/" && $0 != " " && $0 != "\t" && $0 != "\"" && $0 != "'" }
            if let at = userinfo.lastIndex(of: "@"), userinfo[..<at].contains(":") { return true }
            rest = after
        }
        return false
    }
}
