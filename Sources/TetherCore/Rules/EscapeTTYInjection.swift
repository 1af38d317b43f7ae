/// Input pushed into a terminal as if typed there (TIOCSTI): whoever reads that terminal
/// next, the person's own shell once the agent has finished, runs it. A way out of the
/// session through the most trusted deputy there is. The kernel's terminal guard ends the
/// caller at the first byte; what landed is discarded from the terminal's input (the
/// responder); sessions Tether launches confined have TIOCSTI refused by seccomp.
struct EscapeTTYInjection: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.tty_injection", severity: .critical, action: .kill, mitre: "T1059.004",
                                    kinds: [.ioctl],
                                    title: "input pushed into a terminal (TIOCSTI): commands for whoever reads it next")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard e.request == 0x5412 else { return nil }
        let tty = e.path ?? "fd \(e.fd ?? -1)"
        return RuleHit("input pushed into a terminal (TIOCSTI) at \(tty): the next reader of that terminal runs it\(e.outcomeNote)",
                       subject: tty, path: e.path)
    }
}
