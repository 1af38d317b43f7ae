import Foundation
import TetherCore
import TetherExport

/// One session's ledger on disk: JSON lines, each with the hash of the line before it
/// (`prev`) and its own (`hash`: SHA-256 of the line up to that field, closed with `}`), so a
/// change to any byte breaks the chain at that line, and the head (the last `hash`) stands
/// for everything before it. Root only (directory 0700, file 0600, created, never reopened).
/// Bounded: past `cap` bytes (less a reserve for the closing entries) one `cap_reached`
/// entry is written and later entries are counted, not written.
final class LedgerFile {
    let path: String
    private let file: UnsafeMutablePointer<FILE>
    private(set) var seq: UInt64 = 0
    private(set) var head = LedgerFile.genesis
    private(set) var bytes: UInt64 = 0
    let cap: UInt64
    /// Entries not written because the cap was reached.
    private(set) var dropped: UInt64 = 0
    private(set) var failure: String?
    private var closed = false
    private var clock = WallClock()

    /// The `prev` of the first entry.
    static let genesis = String(repeating: "0", count: 64)
    /// Kept for the entries that close a session (what it left behind, the summary, the end).
    static let reserve: UInt64 = 256 << 10

    /// Whether the ledger existed (a restarted tetherd goes on with a session's chain).
    private(set) var resumed = false

    /// `made`: called once the directory exists, before the file is created in it (tetherd
    /// puts the directory under the tamper guard there, so no instant exists in which a
    /// session could open its ledger unguarded).
    init(directory: String, cap: UInt64, made: (String) -> Void = { _ in }) throws {
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw LedgerError("creating \(directory): \(String(cString: strerror(errno)))")
        }
        made(directory)
        path = directory + "/ledger.jsonl"
        var fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd < 0 && errno == EEXIST {
            // A session an earlier instance began: its chain goes on from its last intact entry.
            let earlier = try Ledger.read(path)
            guard earlier.verification.ok else {
                throw LedgerError("\(path) exists and was altered (\(earlier.verification.reason ?? "")): not appended to")
            }
            seq = UInt64(earlier.verification.intact)
            head = earlier.verification.head
            var st = stat()
            if stat(path, &st) == 0 { bytes = UInt64(st.st_size) }
            fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)
            resumed = true
        }
        guard fd >= 0, let f = fdopen(fd, "a") else {
            let why = String(cString: strerror(errno))
            throw LedgerError("creating \(path): \(why)")
        }
        file = f
        self.cap = max(cap, LedgerFile.reserve * 2)
    }

    deinit { close() }

    /// Appends one entry of `type`; `fill` writes its fields. `closing` entries use the reserve.
    func append(_ type: String, time boot: UInt64, closing: Bool = false, _ fill: (inout JSONObjectWriter) -> Void) {
        guard !closed else { return }
        if !closing && bytes >= cap - LedgerFile.reserve {
            if dropped == 0 {
                write("cap_reached", boot) { w in
                    w.uint("cap_bytes", self.cap)
                    w.string("note", "the ledger reached its cap: later entries are counted, not written")
                }
            }
            dropped += 1
            return
        }
        write(type, boot, fill)
    }

    private func write(_ type: String, _ boot: UInt64, _ fill: (inout JSONObjectWriter) -> Void) {
        var w = JSONObjectWriter(capacity: 256)
        w.uint("seq", seq)
        w.string("type", type)
        w.uint("boot_ns", boot)
        w.string("time", clock.rfc3339(boot: boot))
        fill(&w)
        w.string("prev", head)
        let body = w.finish()
        let hash = Digest.sha256(body)
        var line = String(body.dropLast())
        line += ",\"hash\":\"" + hash + "\"}\n"
        line.withUTF8 { b in
            if fwrite(b.baseAddress, 1, b.count, file) != b.count, failure == nil {
                failure = "writing \(path): \(String(cString: strerror(errno)))"
            }
            bytes += UInt64(b.count)
        }
        head = hash
        seq += 1
    }

    func flush() {
        if !closed, fflush(file) != 0, failure == nil { failure = "writing \(path): \(String(cString: strerror(errno)))" }
    }

    func close() {
        guard !closed else { return }
        flush()
        closed = true
        fclose(file)
    }
}

public struct LedgerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Boot-time nanoseconds as RFC 3339 UTC with microseconds, without Foundation's formatter
/// (the ledger's hot path): the boot-to-wall offset is read again every 4096 entries.
struct WallClock {
    private var offsetNs: Int64 = 0
    private var uses = 0

    private mutating func refresh() {
        var boot = timespec(), real = timespec()
        clock_gettime(CLOCK_BOOTTIME, &boot)
        clock_gettime(CLOCK_REALTIME, &real)
        offsetNs = (Int64(real.tv_sec) - Int64(boot.tv_sec)) * 1_000_000_000 + (Int64(real.tv_nsec) - Int64(boot.tv_nsec))
    }

    mutating func rfc3339(boot: UInt64) -> String {
        if uses % 4096 == 0 { refresh() }
        uses &+= 1
        let wall = Int64(clamping: boot) &+ offsetNs
        var secs = time_t(wall / 1_000_000_000)
        let micros = Int((wall % 1_000_000_000) / 1000)
        var t = tm()
        gmtime_r(&secs, &t)
        var b = [UInt8](repeating: 0, count: 27)
        func put(_ v: Int, _ at: Int, _ n: Int) {
            var v = v
            for i in stride(from: at + n - 1, through: at, by: -1) { b[i] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10 }
        }
        put(Int(t.tm_year) + 1900, 0, 4); b[4] = UInt8(ascii: "-"); put(Int(t.tm_mon) + 1, 5, 2); b[7] = UInt8(ascii: "-")
        put(Int(t.tm_mday), 8, 2); b[10] = UInt8(ascii: "T"); put(Int(t.tm_hour), 11, 2); b[13] = UInt8(ascii: ":")
        put(Int(t.tm_min), 14, 2); b[16] = UInt8(ascii: ":"); put(Int(t.tm_sec), 17, 2); b[19] = UInt8(ascii: ".")
        put(micros, 20, 6); b[26] = UInt8(ascii: "Z")
        return String(decoding: b, as: UTF8.self)
    }
}
