import ArgumentParser
import Foundation
import TetherLedger
import TetherResponse

/// `tether report`: what a session really did, from its ledger.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report what a session's processes really did, from its ledger.",
        discussion: """
        SESSION is a session id (or a unique start of one), an agent's name (its newest \
        session), or --last. The summary comes first, most serious first; --json gives all of \
        it for machines, --html FILE a page with the process tree and a timeline. What the \
        session left behind is looked at again now. --transcript cross-checks the agent's own \
        record of its tool calls: what no tool call accounts for, what happened after a call \
        had returned, and each call's effects outside the workspace. --verify checks the \
        ledger's hash chain (exit 1 if it was altered); --head checks it against the head a \
        session-end alert carried (e.g. the one your remote syslog received).
        """)

    @Argument(help: "Session id, a unique start of one, or an agent's name.")
    var session: String?

    @Flag(name: .long, help: "The newest session.")
    var last = false

    @Flag(name: .long, help: "All of the report as JSON.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Also write the report as an HTML page to FILE.", valueName: "FILE"))
    var html: String?

    @Option(name: .long, help: ArgumentHelp("The agent's own record of its tool calls, to cross-check.", valueName: "FILE"))
    var transcript: String?

    @Option(name: .long, help: ArgumentHelp("The transcript's format: auto, tool-calls, mini-swe-agent, claude-code.", valueName: "FORMAT"))
    var transcriptFormat: String = "auto"

    @Flag(name: .long, help: "Only check the ledger's hash chain: exit 0 if intact, 1 if altered.")
    var verify = false

    @Option(name: .long, help: ArgumentHelp("With --verify: the head a session-end alert carried; the chain must contain it.", valueName: "HASH"))
    var head: String?

    @Option(name: .long, help: ArgumentHelp("Tether's state directory (ledgers under its sessions/).", valueName: "DIR"))
    var stateDir: String = Quarantine.defaultStateDirectory

    mutating func validate() throws {
        if last && session != nil { throw ValidationError("give a session or --last, not both") }
        if !last && session == nil { throw ValidationError("missing session: tether report SESSION (or --last)") }
        if Transcript.Format(rawValue: transcriptFormat) == nil {
            throw ValidationError("--transcript-format \(transcriptFormat): expected one of \(Transcript.Format.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if head != nil && !verify { throw ValidationError("--head goes with --verify") }
        if let h = head, h.count != 64 || !h.allSatisfy(\.isHexDigit) { throw ValidationError("--head \(h): expected 64 hex digits (a SHA-256)") }
    }

    func run() throws {
        let stored: LedgerStore.Stored
        let ledger: Ledger
        do {
            stored = try LedgerStore.find(last ? "last" : session!, in: LedgerStore.directory(state: stateDir))
            ledger = try Ledger.read(stored.path)
        } catch { complain("\(error)"); throw ExitCode(66) }
        if verify {
            let v = ledger.verification
            if !v.ok {
                print("\(stored.path): ALTERED: \(v.reason ?? "") (\(v.intact) entries intact before it)")
                throw ExitCode(1)
            }
            if let head {
                guard let at = ledger.entries.firstIndex(where: { $0["hash"] as? String == head.lowercased() }) else {
                    print("\(stored.path): chain intact (\(v.intact) entries), but no entry has the head \(head): the ledger is not the one that head was sent for")
                    throw ExitCode(1)
                }
                print("\(stored.path): intact; head \(head) is entry \(at + 1) of \(v.intact)")
                return
            }
            print("\(stored.path): intact: \(v.intact) entries, head \(v.head)")
            return
        }
        var report = SessionReport(ledger)
        if let transcript {
            do {
                guard let data = FileManager.default.contents(atPath: transcript) else { throw ValidationError("cannot read \(transcript)") }
                let (format, calls) = try Transcript.parse(data, format: Transcript.Format(rawValue: transcriptFormat)!)
                report.crossCheck(calls, format: format)
            } catch { complain("--transcript \(transcript): \(error)"); throw ExitCode(65) }
        }
        if let html {
            do { try report.html().write(toFile: html, atomically: true, encoding: .utf8) } catch {
                complain("--html \(html): \(error)"); throw ExitCode(73)
            }
        }
        print(json ? report.json() : report.text(), terminator: "")
        if !ledger.verification.ok { throw ExitCode(1) }
    }
}
