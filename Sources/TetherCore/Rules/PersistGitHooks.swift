/// Git hooks run on the next git command in that repository. Outside the workspace they
/// persist into other repositories (or every one, through templates and a global
/// hooksPath); inside it they are reported as `low` (the agent's own repository).
/// Sample hooks written by `git init`/`clone` are ignored.
struct PersistGitHooks: Rule, ExecGated {
    static let execNames: [String] = ["git"]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.git_hooks", severity: .medium, action: .alert, mitre: "T1546",
                                    kinds: [.open, .rename, .link, .symlink, .chmod, .exec],
                                    title: "git hooks outside the workspace (inside: low), git templates, global core.hooksPath")

    static let templates = Locations(.gitTemplates, system: ["/usr/share/git-core/templates/hooks/"], home: [".git-templates/hooks/", ".config/git/template/hooks/"])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .exec {
            // `git config --global core.hooksPath DIR`: hooks for every repository of the user.
            guard e.execName == "git", Exec.args(e).contains(where: { $0.lowercased() == "core.hookspath" }),
                  Exec.hasFlag(e, ["--global", "--system"]) else { return nil }
            return RuleHit("git: hooks directory set for all repositories: \(Describe.command(e))\(e.outcomeNote)",
                           subject: "exec:git core.hooksPath", perProcess: true)
        }
        guard let (path, op) = ctx.modified, op != .delete, op != .mkdir else { return nil }
        let template = PersistGitHooks.templates.holdsEventPath(ctx)
        guard template || PathBytes.contains(path, PersistGitHooks.hooksDir) else { return nil }
        if PathBytes.hasSuffix(path, PersistGitHooks.sample) { return nil }
        if template {
            return RuleHit(Describe.file("git template hook", path, op, e), subject: path, path: path)
        }
        guard PersistGitHooks.isHook(path) else { return nil }
        let inside = ctx.modifiedInWorkspace
        return RuleHit(Describe.file(inside ? "git hook in the workspace" : "git hook outside the workspace", path, op, e),
                       subject: path, path: path, inWorkspace: inside)
    }

    static let hooksDir = Array("/hooks/".utf8)
    static let sample = Array(".sample".utf8)

    /// ".../X.git/hooks/NAME" or ".../.git/hooks/NAME" (one level below hooks/).
    static func isHook(_ path: String) -> Bool {
        let dir = PathBytes.dirname(path)
        guard dir.hasSuffix("/hooks") else { return false }
        return dir.dropLast(6).hasSuffix(".git")
    }
}
