/// Fileless execution: running a memfd or a file already deleted, leaving nothing on disk.
struct EvasionFileless: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "evasion.fileless", severity: .high, action: .kill, mitre: "T1620",
                                    kinds: [.exec],
                                    title: "fileless execution (memfd, deleted files)")

    static let memfd = Array("/memfd:".utf8)
    static let deleted = Array(" (deleted)".utf8)

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let p = e.path else { return nil }
        if PathBytes.hasPrefix(p, EvasionFileless.memfd) {
            return RuleHit("program run from memory (memfd): \(p)\(e.outcomeNote)", subject: p, path: p, perProcess: true)
        }
        if e.pathDeleted || PathBytes.hasSuffix(p, EvasionFileless.deleted) {
            return RuleHit("program run from a deleted file: \(p)\(e.outcomeNote)", subject: p, path: p, perProcess: true)
        }
        return nil
    }
}
