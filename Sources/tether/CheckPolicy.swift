import ArgumentParser

struct CheckPolicy: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-policy", abstract: "Validate a policy file (not yet implemented).")
    func run() throws { throw ValidationError("check-policy is not implemented yet") }
}
