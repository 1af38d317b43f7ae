import ArgumentParser
import Foundation
import TetherCore
import TetherProbe

/// The daemon's own log: stderr, which systemd sends to the journal.
func log(_ message: String) {
    FileHandle.standardError.write(Data("tetherd: \(message)\n".utf8))
}

struct Tetherd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tetherd",
        abstract: "Follow every process of every watched AI agent and report what it does.")

    @Option(name: .long, help: ArgumentHelp("Policy file naming the agents to watch.", valueName: "FILE"))
    var policy: String = "/etc/tether/policy.yaml"

    @Option(name: .long, help: ArgumentHelp("Also write every event as JSON lines to FILE ('-' = stdout).", valueName: "FILE"))
    var events: String?

    @Option(name: .long, help: ArgumentHelp("Seconds between status lines on stderr (0 = none).", valueName: "SECONDS"))
    var statusInterval: Double = 60

    func run() throws {
        let selectors: [AgentSelector]
        do {
            selectors = try AgentsFile.load(path: policy)
        } catch {
            log("\(error)")
            throw ExitCode(78) // EX_CONFIG
        }
        if geteuid() != 0 {
            log("must run as root (or with CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE, CAP_SYS_PTRACE)")
            throw ExitCode(77)
        }
        let daemon: Daemon
        do {
            daemon = try Daemon(selectors: selectors, eventsPath: events)
        } catch {
            log("\(error)")
            throw ExitCode(70)
        }
        daemon.run(statusInterval: statusInterval)
    }
}

Tetherd.main()
