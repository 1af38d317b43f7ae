import ArgumentParser

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the classifier over recorded events (not yet implemented).")
    func run() throws { throw ValidationError("replay is not implemented yet") }
}
