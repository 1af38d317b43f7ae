import ArgumentParser
import Foundation
import TetherCore
import TetherExport
import TetherPipeline

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the classifier over recorded events and print its findings.",
        discussion: """
        FILE holds events as JSON lines, as `tether run --events` writes them. Findings go to \
        stdout: one line each, or JSON lines with --json. Without --policy, /etc/tether/policy.yaml \
        is used if it exists, else the built-in policy. Exit status: 0 on success (findings or \
        not), 65 if a line of FILE is not a valid event, 66 if FILE cannot be read, 78 if the \
        policy is invalid.
        """)

    @Argument(help: ArgumentHelp("Recorded events (JSON lines); '-' reads stdin.", valueName: "FILE.jsonl"))
    var file: String

    @Option(name: .long, help: ArgumentHelp("The policy file.", valueName: "FILE"))
    var policy: String?

    @Flag(name: .long, help: "Print findings as JSON lines.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Workspace of the recorded sessions (default: the root's working directory).", valueName: "DIR"))
    var workspace: String?

    @Option(name: .long, help: ArgumentHelp("Policy agent the recorded sessions run under (default: the agent each event says the kernel chose, else `defaults`).", valueName: "NAME"))
    var agent: String?

    static let systemPolicy = "/etc/tether/policy.yaml"

    func run() throws {
        let pol: Policy
        do {
            if let p = policy {
                pol = try Policy.load(path: p)
            } else if FileManager.default.fileExists(atPath: Replay.systemPolicy) {
                pol = try Policy.load(path: Replay.systemPolicy)
            } else {
                pol = .default
            }
        } catch let e as PolicyLoadError {
            printErr(e.description)
            throw ExitCode(78)
        }
        if let a = agent, a != pol.defaults.name, !pol.agents.contains(where: { $0.name == a }) {
            printErr("--agent \(a): no such agent in \(pol.source) (agents: \(([pol.defaults.name] + pol.agents.map(\.name)).joined(separator: ", ")))")
            throw ExitCode(64)
        }

        let text: String
        do {
            if file == "-" {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            } else {
                text = try TextFile.read(file)
            }
        } catch {
            printErr("\(file): cannot read: \(error)")
            throw ExitCode(66)
        }
        let events: [Event]
        do {
            events = try EventJSON.decodeLines(text)
        } catch let e as EventJSON.DecodeError {
            printErr("\(file):\(e.line): \(e.message)")
            throw ExitCode(65)
        }

        // The recording is judged as it was recorded: under the agent and mode each event
        // carries (the kernel's decision on the recording host), with no look at this host.
        var findings = 0
        var bySeverity: [Severity: Int] = [:]
        let out = try LineWriter(path: "-")
        let pipeline = Pipeline(policy: pol, source: .recorded, responder: nil) { a in
            findings += 1
            bySeverity[Severity(rawValue: a.severity.rawValue) ?? .high, default: 0] += 1
            out.write(json ? AlertJSON.encode(a) : a.summary)
        }
        pipeline.log = { printErr("tether replay: \($0)") }
        var seen = Set<SessionID>()
        var last: UInt64 = 0
        for var e in events {
            if seen.insert(e.session).inserted, workspace != nil || agent != nil {
                pipeline.begin(session: e.session, root: e.root != 0 ? e.root : e.pid, workspace: workspace, agent: agent, time: e.time)
            }
            pipeline.handle(&e)
            last = max(last, e.time)
            pipeline.tick(now: last)
        }
        out.close()
        if let f = out.failure { printErr(f); throw ExitCode(74) }
        let counts = Severity.allCases.reversed().compactMap { s in bySeverity[s].map { "\($0) \(s.rawValue)" } }
        printErr("\(events.count) events, \(seen.count) session\(seen.count == 1 ? "" : "s"), \(findings) finding\(findings == 1 ? "" : "s")"
                 + (counts.isEmpty ? "" : " (\(counts.joined(separator: ", ")))") + " [policy \(pol.source)]")
        if pipeline.ruleFailures > 0 { printErr("\(pipeline.ruleFailures) rule failures (see above)") }
    }
}

/// One line on stderr, without the "tether: " prefix (the line starts with its location).
func printErr(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
