import Foundation

/// A ledger read back: its entries, and whether its hash chain is intact.
public struct Ledger {
    public var path: String
    public var entries: [[String: Any]] = []
    public var verification = Verification()

    public struct Verification: Sendable, Equatable {
        /// Entries checked and found as they were written.
        public var intact = 0
        /// The last intact entry's hash: what the session-end alert carried, if it was the last.
        public var head = ""
        /// The first entry that is not as written (0-based line), and why; nil if none.
        public var brokenAt: Int?
        public var reason: String?
        public var ok: Bool { brokenAt == nil }
        /// Heads the ledger says were sent (session-end alerts): seq -> head.
        public var sentHeads: [Int: String] = [:]
    }

    /// Reads and checks `path`: every line's hash over its content, every `prev` against the
    /// line before, every `seq` in order. Entries after a break are still read (and marked
    /// by `brokenAt`), so a report can show them, never as verified.
    public static func read(_ path: String) throws -> Ledger {
        guard let data = FileManager.default.contents(atPath: path) else { throw LedgerError("cannot read \(path)") }
        var l = Ledger(path: path)
        var prev = LedgerFile.genesis
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (i, raw) in lines.enumerated() {
            if i == lines.count - 1 && raw.isEmpty { break } // the final newline
            let line = String(decoding: raw, as: UTF8.self)
            let (entry, problem) = check(line, index: i, prev: prev)
            if let entry { l.entries.append(entry) }
            if let problem {
                if l.verification.brokenAt == nil { l.verification.brokenAt = i; l.verification.reason = problem }
                prev = ""
                continue
            }
            guard l.verification.brokenAt == nil, let entry else { continue }
            prev = entry["hash"] as? String ?? ""
            l.verification.intact += 1
            l.verification.head = prev
            if entry["type"] as? String == "summary" { l.verification.sentHeads[i] = prev }
        }
        if lines.count <= 1 && data.isEmpty { l.verification.brokenAt = 0; l.verification.reason = "the ledger is empty" }
        return l
    }

    static let marker = ",\"hash\":\""

    /// One line: its entry (if it parses) and what is wrong with it (nil: as written).
    static func check(_ line: String, index: Int, prev: String) -> ([String: Any]?, String?) {
        let entry = LedgerStore.object(line)
        guard let r = line.range(of: marker, options: .backwards), line.hasSuffix("\"}"),
              line.distance(from: r.upperBound, to: line.endIndex) == 66 else {
            return (entry, "line \(index + 1): no hash at its end")
        }
        let hash = String(line[r.upperBound...].dropLast(2))
        let body = String(line[..<r.lowerBound]) + "}"
        guard Digest.sha256(body) == hash else { return (entry, "line \(index + 1): its content does not match its hash (changed after it was written)") }
        guard let entry else { return (nil, "line \(index + 1): not JSON") }
        guard entry["prev"] as? String == prev else { return (entry, "line \(index + 1): its prev does not match the line before (a line removed, inserted or changed)") }
        guard (entry["seq"] as? NSNumber)?.intValue == index else { return (entry, "line \(index + 1): seq \(entry["seq"] ?? "none") out of order") }
        return (entry, nil)
    }
}
