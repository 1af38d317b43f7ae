import ArgumentParser
import Foundation
import TetherCore

struct CheckPolicy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-policy",
        abstract: "Validate a policy file.",
        discussion: """
        Prints every error as FILE:LINE:COLUMN: message on stderr and exits 1 if there is any \
        (unknown keys, wrong types, bad globs or CIDRs are all errors); exits 0 and prints a \
        summary if the policy is valid. Agents whose selectors can pick the same process are \
        warned about on stderr: the kernel gives such a process to one agent only, by the most \
        specific selector (exe, then cgroup, then comm, then uid; within one kind, the agent \
        first in the file).
        """)

    @Argument(help: ArgumentHelp("The policy file.", valueName: "FILE"))
    var file: String

    func run() throws {
        let policy: Policy
        do {
            policy = try Policy.load(path: file)
        } catch let e as PolicyLoadError {
            for err in e.errors { FileHandle.standardError.write(Data("\(err)\n".utf8)) }
            let n = e.errors.count
            FileHandle.standardError.write(Data("\(file): \(n) error\(n == 1 ? "" : "s"); the policy would not be loaded\n".utf8))
            throw ExitCode(1)
        }
        for w in policy.selectorOverlaps() { FileHandle.standardError.write(Data("\(file): warning: \(w)\n".utf8)) }
        var lines = ["\(file): ok"]
        for a in [policy.defaults] + policy.agents {
            let enabled = RuleCatalog.all.filter { a.settings(for: $0).enabled }.count
            let match = a.name == policy.defaults.name ? "sessions no agent matches" : describe(a.match)
            lines.append("  \(a.name): \(a.mode.rawValue), \(enabled)/\(RuleCatalog.all.count) rules, grace \(formatSeconds(a.gracePeriod)); \(match)")
        }
        print(lines.joined(separator: "\n"))
    }

    private func describe(_ m: AgentMatch) -> String {
        var parts: [String] = []
        if !m.exe.isEmpty { parts.append("exe " + m.exe.joined(separator: "|")) }
        if !m.comm.isEmpty { parts.append("comm " + m.comm.joined(separator: "|")) }
        if !m.uid.isEmpty { parts.append("uid " + m.uid.map(String.init).joined(separator: "|")) }
        if !m.cgroup.isEmpty { parts.append("cgroup " + m.cgroup.joined(separator: "|")) }
        return "matches " + parts.joined(separator: " and ")
    }
}

func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s))s" : "\(s)s"
}
