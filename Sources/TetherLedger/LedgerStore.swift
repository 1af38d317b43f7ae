import Foundation
import TetherCore

/// The ledgers under a state directory's `sessions/`: listing, finding one, pruning.
public enum LedgerStore {
    /// `STATE/sessions`, where every session's ledger directory is.
    public static func directory(state: String) -> String { state + "/sessions" }

    static func makeDirectory(_ d: String) throws {
        var path = ""
        for part in d.split(separator: "/") {
            path += "/" + part
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw LedgerError("creating \(path): \(String(cString: strerror(errno)))")
            }
        }
        chmod(d, 0o700) // the ledgers are root's only
    }

    /// One stored ledger, from its first and last entries.
    public struct Stored: Sendable {
        public var session: String
        public var path: String
        public var agent: String
        public var label: String?
        public var start: Date?
        /// The reason of its `end` entry; nil while the session is still being written.
        public var ended: String?
        public var bytes: UInt64
        public var modified: Date
    }

    /// Every ledger under `directory`, newest first.
    public static func list(_ directory: String) -> [Stored] {
        guard let names = HostFiles.entries(directory) else { return [] }
        return names.compactMap { name -> Stored? in
            let path = directory + "/" + name + "/ledger.jsonl"
            var st = stat()
            guard SessionID(name) != nil, lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
            let first = firstLine(path).flatMap(object)
            let last = lastLine(path).flatMap(object)
            return Stored(session: name, path: path, agent: first?["agent"] as? String ?? "?", label: first?["label"] as? String,
                          start: (first?["time"] as? String).flatMap(parseTime),
                          ended: last?["type"] as? String == "end" ? last?["reason"] as? String ?? "ended" : nil,
                          bytes: UInt64(st.st_size), modified: Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec)))
        }.sorted { ($0.start ?? $0.modified) > ($1.start ?? $1.modified) }
    }

    /// The ledger `which` names: a session id or a unique prefix of one, "last" (the newest),
    /// or an agent's name (its newest session).
    public static func find(_ which: String, in directory: String) throws -> Stored {
        let all = list(directory)
        if all.isEmpty { throw LedgerError("no session ledgers in \(directory)") }
        if which == "last" { return all[0] }
        let byId = all.filter { $0.session.hasPrefix(which.lowercased()) }
        if byId.count == 1 { return byId[0] }
        if byId.count > 1 { throw LedgerError("\(which) is the start of \(byId.count) sessions' ids: give more of it") }
        if let a = all.first(where: { $0.agent == which }) { return a }
        throw LedgerError("no session \(which) (neither an id, nor an agent's name) in \(directory)")
    }

    /// Removes ended sessions' ledgers older than the options' age and, oldest first, those
    /// beyond the total size. Sessions still open are never removed.
    static func prune(_ o: LedgerBook.Options, keeping open: Set<SessionID>, now: Date = Date()) {
        var total: UInt64 = 0
        for s in list(o.directory).sorted(by: { $0.modified > $1.modified }) { // last written first
            guard !open.contains(where: { $0.description == s.session }) else { total += s.bytes; continue }
            let old = o.keepSeconds > 0 && now.timeIntervalSince(s.modified) > o.keepSeconds
            // a ledger without its end may be a session a restarted tetherd goes on with
            if s.ended == nil && !old { total += s.bytes; continue }
            let over = o.keepBytes > 0 && total + s.bytes > o.keepBytes
            if old || over {
                try? FileManager.default.removeItem(atPath: o.directory + "/" + s.session)
            } else {
                total += s.bytes
            }
        }
    }

    static func object(_ line: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    static func parseTime(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s) ?? ISO8601DateFormatter().date(from: s)
    }

    static func firstLine(_ path: String) -> String? {
        guard let b = HostFiles.read(path, max: 64 << 10, noFollow: true) else { return nil }
        return String(decoding: b.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    }

    static func lastLine(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        let want = min(Int(size), 64 << 10)
        guard want > 0 else { return nil }
        var buf = [UInt8](repeating: 0, count: want)
        guard pread(fd, &buf, want, off_t(Int(size) - want)) == want else { return nil }
        let lines = buf.split(separator: UInt8(ascii: "\n"))
        return lines.last.map { String(decoding: $0, as: UTF8.self) }
    }
}
