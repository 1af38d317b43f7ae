import ArgumentParser
import Foundation
import TetherResponse

/// `tether quarantine list|restore`: what Tether undid, and putting it back.
struct QuarantineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine",
        abstract: "List what Tether undid at persistence locations, or put an artifact back.",
        discussion: """
        When the kernel could only kill the caller after a rename, link, symlink or truncating \
        open had landed at a persistence location, Tether moved the artifact here and put back \
        the file's earlier content where it had kept it.
        """,
        subcommands: [List.self, Restore.self])

    struct Options: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("Tether's state directory.", valueName: "DIR"))
        var stateDir: String = Quarantine.defaultStateDirectory
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List quarantined artifacts, oldest first.")
        @OptionGroup var options: Options
        @Flag(name: .long, help: "One JSON object per line.") var json = false
        func run() throws {
            let q = Quarantine(stateDirectory: options.stateDir)
            let entries = q.list()
            if json {
                let enc = JSONEncoder()
                enc.dateEncodingStrategy = .iso8601
                enc.outputFormatting = [.sortedKeys]
                for e in entries { print(String(decoding: try enc.encode(e), as: UTF8.self)) }
                return
            }
            if entries.isEmpty { print("nothing in quarantine (\(q.directory))"); return }
            for e in entries {
                let what = e.type == "symlink" ? "symlink -> \(e.linkTarget ?? "?")" : "\(e.size) bytes\(e.truncated ? " (kept in part)" : "")"
                print("\(e.id)  \(e.path)  \(what)  \(e.rule)  session \(e.session)  \(e.undo)")
            }
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a quarantined artifact back at its path (what is there now is quarantined in turn).")
        @OptionGroup var options: Options
        @Argument(help: "The artifact's id (tether quarantine list).") var id: String
        func run() throws {
            try requireRoot("tether quarantine restore")
            do {
                print(try Quarantine(stateDirectory: options.stateDir).restore(id))
            } catch {
                complain("\(error)")
                throw ExitCode(1)
            }
        }
    }
}
