import Foundation
import TetherCore

/// Undoes what still landed at a persistence location when the kernel could only kill the
/// caller after the syscall (sessions Tether did not launch, or launched without Landlock):
/// a rename, link or symlink that put an artifact in place, an open that created or
/// truncated a file. The artifact moves to a quarantine under the state directory; where it
/// replaced a file, the file's pre-image (kept since the guards were installed, and kept
/// fresh) goes back. `tether quarantine list|restore` lets a person reverse it.
///
/// The paths acted on are the kernel's (resolved from dentries at syscall exit), and the
/// session is frozen or dead when this runs; the final component is never followed.
public final class Quarantine: @unchecked Sendable {
    public let directory: String
    private let lock = NSLock()
    private var preimages: [String: Preimage] = [:]
    private var preimageBytes = 0
    private var lastRefresh = Date.distantPast
    private var watched: [String] = []

    /// Bounds of what is kept in memory as pre-images.
    public static let maxFileBytes = 256 << 10
    public static let maxTotalBytes = 16 << 20
    public static let maxFiles = 4096
    /// Bounds of one quarantined artifact (larger ones are removed, their first bytes kept).
    public static let maxQuarantinedBytes = 16 << 20

    struct Preimage {
        var bytes: [UInt8]
        var mode: mode_t
        var uid: uid_t
        var gid: gid_t
        var ino: ino_t
        var mtime: Int
        var size: Int
    }

    /// One quarantined artifact, as `meta.json` in its own directory.
    public struct Entry: Codable, Sendable, Equatable {
        public var id: String
        public var path: String
        public var session: String
        public var rule: String
        public var time: Date
        /// "file", "symlink" or "other".
        public var type: String
        public var mode: UInt32
        public var uid: UInt32
        public var gid: UInt32
        public var size: Int
        public var linkTarget: String?
        /// What replaced it at `path`: "pre-image restored", "removed".
        public var undo: String
        public var truncated: Bool
    }

    public static let defaultStateDirectory = "/var/lib/tether"

    public init(stateDirectory: String) {
        directory = stateDirectory + "/quarantine"
    }

    // MARK: pre-images

    /// The protected locations whose files get pre-images: files, and the regular files
    /// directly inside protected directories.
    public func watch(_ protected: [GuardPlan.Protected]) {
        lock.lock()
        watched = protected.map(\.path)
        lastRefresh = .distantPast
        lock.unlock()
        refresh(force: true)
    }

    /// Takes pre-images of what changed since the last time (by inode, mtime and size), at most
    /// every `interval` seconds unless forced. Cheap: a stat per file.
    public func refresh(force: Bool = false, interval: TimeInterval = 30) {
        lock.lock()
        defer { lock.unlock() }
        guard force || Date().timeIntervalSince(lastRefresh) >= interval else { return }
        lastRefresh = Date()
        var files: [String] = []
        for p in watched {
            var st = stat()
            guard lstat(p, &st) == 0 else { continue }
            if st.st_mode & S_IFMT == S_IFREG { files.append(p) }
            if st.st_mode & S_IFMT == S_IFDIR, let names = HostFiles.entries(p) {
                for n in names.sorted().prefix(Self.maxFiles) { files.append(p + "/" + n) }
            }
        }
        var next: [String: Preimage] = [:]
        var total = 0
        for f in files.prefix(Self.maxFiles) {
            var st = stat()
            guard lstat(f, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int(st.st_size) <= Self.maxFileBytes,
                  total + Int(st.st_size) <= Self.maxTotalBytes else { continue }
            if let old = preimages[f], old.ino == st.st_ino, old.mtime == st.st_mtim.tv_sec, old.size == Int(st.st_size) {
                next[f] = old
            } else if let bytes = HostFiles.read(f, max: Self.maxFileBytes, noFollow: true) {
                next[f] = Preimage(bytes: bytes, mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid,
                                   ino: st.st_ino, mtime: st.st_mtim.tv_sec, size: Int(st.st_size))
            }
            total += next[f]?.bytes.count ?? 0
        }
        preimages = next
        preimageBytes = total
    }

    public var preimageCount: Int { lock.lock(); defer { lock.unlock() }; return preimages.count }

    // MARK: undo

    /// Moves what is at `path` aside and puts its pre-image back where one was kept. Returns
    /// what was done, for the finding's outcome, or nil when nothing is there.
    @discardableResult
    public func undo(path: String, session: SessionID, rule: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        let type = st.st_mode & S_IFMT == S_IFREG ? "file" : st.st_mode & S_IFMT == S_IFLNK ? "symlink" : "other"
        guard type != "other" else { return "left in place: \(path) is not a file or symlink" }
        lock.lock()
        let pre = preimages[path]
        lock.unlock()
        // as it was: nothing landed (an open that created nothing new and wrote nothing)
        if let pre, type == "file", st.st_ino == pre.ino, Int(st.st_size) == pre.size,
           HostFiles.read(path, max: Self.maxFileBytes, noFollow: true) == pre.bytes { return nil }
        let id = Self.newID()
        let dir = directory + "/" + id
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            chmod(directory, 0o700)
            var entry = Entry(id: id, path: path, session: session.description, rule: rule, time: Date(), type: type,
                              mode: UInt32(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid, size: Int(st.st_size),
                              linkTarget: nil, undo: "", truncated: false)
            if type == "symlink" {
                entry.linkTarget = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
            } else {
                let bytes = HostFiles.read(path, max: Self.maxQuarantinedBytes, noFollow: true) ?? []
                entry.truncated = Int(st.st_size) > bytes.count
                guard FileManager.default.createFile(atPath: dir + "/content", contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
                    return "undo failed: cannot write the quarantine copy in \(dir)"
                }
            }
            if let pre {
                try Self.replace(path, with: pre.bytes, mode: pre.mode, uid: pre.uid, gid: pre.gid)
                entry.undo = "pre-image restored"
            } else {
                guard unlink(path) == 0 else { return "undo failed: removing \(path): \(String(cString: strerror(errno)))" }
                entry.undo = "removed"
            }
            let meta = try JSONEncoder.iso.encode(entry)
            try meta.write(to: URL(fileURLWithPath: dir + "/meta.json"))
            return pre != nil
                ? "undone: \(path) put back as it was before (its pre-image); what the agent placed is in quarantine \(id)"
                : "undone: \(path) removed to quarantine \(id)"
        } catch {
            return "undo failed for \(path): \(error)"
        }
    }

    // MARK: for people

    public func list() -> [Entry] {
        guard let ids = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return ids.sorted().compactMap { id in
            guard let d = FileManager.default.contents(atPath: directory + "/" + id + "/meta.json") else { return nil }
            return try? JSONDecoder.iso.decode(Entry.self, from: d)
        }
    }

    public struct RestoreError: Error, CustomStringConvertible { public var description: String }

    /// Puts a quarantined artifact back where it was (a person decided it belongs); what is
    /// at its path now is quarantined in turn, so nothing is lost.
    public func restore(_ id: String) throws -> String {
        guard !id.contains("/"), !id.isEmpty, let e = list().first(where: { $0.id == id }) else {
            throw RestoreError(description: "no quarantined artifact \(id) in \(directory) (tether quarantine list)")
        }
        guard !e.truncated else { throw RestoreError(description: "\(id) was larger than the quarantine keeps; it cannot be put back whole") }
        var note = ""
        if let moved = undo(path: e.path, session: SessionID(e.session) ?? SessionID(0), rule: "tether quarantine restore") {
            note = " (what was there: \(moved))"
        }
        if e.type == "symlink" {
            guard symlink(e.linkTarget ?? "", e.path) == 0 else { throw RestoreError(description: "symlink \(e.path): \(String(cString: strerror(errno)))") }
        } else {
            let bytes = [UInt8](FileManager.default.contents(atPath: directory + "/" + id + "/content") ?? Data())
            try Self.replace(e.path, with: bytes, mode: mode_t(e.mode), uid: e.uid, gid: e.gid)
        }
        try FileManager.default.removeItem(atPath: directory + "/" + id)
        return "\(e.path) restored from quarantine \(id)" + note
    }

    // MARK: files

    static func newID() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss"
        return f.string(from: Date()) + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }

    /// Writes `bytes` to `path` atomically (a temporary file in the same directory, renamed
    /// over it), with the mode and owner given.
    static func replace(_ path: String, with bytes: [UInt8], mode: mode_t, uid: uid_t, gid: gid_t) throws {
        let dir = (path as NSString).deletingLastPathComponent
        var tmpl = Array((dir + "/.tether-restore.XXXXXX").utf8CString)
        let fd = tmpl.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw RestoreError(description: "creating a file in \(dir): \(String(cString: strerror(errno)))") }
        let tmp = String(cString: tmpl)
        var ok = true
        bytes.withUnsafeBytes { b in
            var off = 0
            while off < b.count {
                let n = write(fd, b.baseAddress! + off, b.count - off)
                if n < 0 { if errno == EINTR { continue }; ok = false; break }
                off += n
            }
        }
        ok = ok && fchmod(fd, mode) == 0 && fchown(fd, uid, gid) == 0 && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            let e = String(cString: strerror(errno))
            unlink(tmp)
            throw RestoreError(description: "putting \(path) back: \(e)")
        }
    }
}

extension JSONEncoder {
    static var iso: JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return e
    }
}

extension JSONDecoder {
    static var iso: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
