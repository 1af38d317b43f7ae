/// The kernel lost records of this session: its ring buffer was full (a flood of cheap
/// records, or a reader that fell behind), so what the session did next may be unseen.
/// The loss record comes on the urgent ring, which ordinary records never fill, at most
/// one per CPU every 10 ms, naming the session whose record was lost. Raised at once, not
/// when the session ends; in enforce mode the session is stopped for a person to look
/// (fail closed), which the policy may turn into `alert` (`rules: [{id: evasion.event_loss,
/// action: alert}]`). Records a guard matched are not lost with the rest: they go on the
/// urgent ring too.
struct EvasionEventLoss: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "evasion.event_loss", severity: .high, action: .stop, mitre: "T1562.006",
                                    kinds: [.loss],
                                    title: "the kernel lost this session's records (ring buffer full): what it did may be unseen")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        let n = e.lost ?? 0
        let what = e.op.map { " (the last a \($0) record)" } ?? ""
        // one finding per session: later loss records of the same session add to its evidence
        return RuleHit("\(n) record(s) of this session lost\(what): the ring buffer was full, so what the session did meanwhile may be unseen",
                       subject: "ring buffer")
    }
}
