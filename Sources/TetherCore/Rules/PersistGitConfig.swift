/// Git configuration that runs commands: every later git command of the person runs what
/// the agent put there (`core.fsmonitor` at every `git status`, `core.pager`, `core.sshCommand`,
/// `alias.x = !cmd`, `include.path` pulling in more of it, filters and diff drivers). Judged
/// where the file changes: written by the real git (the executable the kernel opened), by
/// the key its `git config` call set (`user.name`, a remote, `core.autocrlf` are ordinary
/// work); written by any other program, a change to the user's or the system's git
/// configuration is the finding itself. The workspace's own repository configuration is
/// reported as `low` (the person's next git command in it runs what was set). What landed
/// in a home or the system is undone from its pre-image in enforce mode.
struct PersistGitConfig: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.git_config", severity: .high, action: .kill, mitre: "T1546",
                                    kinds: EventKind.modifying,
                                    title: "git configuration that runs commands (core.fsmonitor, core.pager, core.sshCommand, ! aliases, include.path, ...)")

    static let locations = Locations(.gitConfig, system: ["/etc/gitconfig"], home: [".gitconfig", ".config/git/config"])
    static let repoConfig = Array("/.git/config".utf8)

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = ctx.modified, op != .delete, op != .mkdir, op != .chmod, op != .chown else { return nil }
        let userOrSystem = PersistGitConfig.locations.holdsEventPath(ctx)
        guard userOrSystem || PathBytes.hasSuffix(path, PersistGitConfig.repoConfig) else { return nil }
        let inRepo = !userOrSystem
        if ctx.trustedName(e) == "git" {
            // the real git: judged by the setting its command line asked for
            guard let p = ctx.table.lookup(e.pid), let (key, value) = PersistGitConfig.setting(p.argv),
                  PersistGitConfig.runsCommand(key, value) else { return nil }
            return RuleHit("git configuration that runs a command: \(key) = \(value ?? "") in \(path)\(e.outcomeNote)",
                           subject: path, path: path, inWorkspace: inRepo && ctx.modifiedInWorkspace)
        }
        // a repository's config written by hand is the repository's business unless it is
        // outside the workspace; the person's own or the system's is never the agent's
        if inRepo && ctx.modifiedInWorkspace { return nil }
        let who = ctx.exe(of: e).map { " by \($0)" } ?? ""
        return RuleHit(Describe.file("git configuration changed\(who), not by git config", path, op, e), subject: path, path: path)
    }

    /// The key and value a `git [opts] config [opts] KEY [VALUE]` command line sets (also
    /// `git config set KEY VALUE`); nil for any other git command, or a read.
    static func setting(_ argv: [String]) -> (key: String, value: String?)? {
        // git's own options come before its subcommand; -C and -c take a value
        var at = 1
        while at < argv.count, argv[at].hasPrefix("-") { at += argv[at] == "-C" || argv[at] == "-c" ? 2 : 1 }
        guard at < argv.count, argv[at] == "config" else { return nil }
        var rest = Array(argv[(at + 1)...])
        if let first = rest.first, ["set", "--add", "--replace-all"].contains(first) { rest.removeFirst() }
        var i = 0
        var words: [String] = []
        while i < rest.count {
            let a = rest[i]
            if a == "--file" || a == "-f" || a == "--blob" || a == "--type" || a == "--comment" { i += 2; continue }
            if ["--get", "--get-all", "--get-regexp", "--list", "-l", "--unset", "--unset-all", "--remove-section",
                "--rename-section", "--edit", "-e", "get", "list", "unset", "edit", "remove-section", "rename-section"].contains(a) { return nil }
            if a.hasPrefix("-") { i += 1; continue }
            words.append(a)
            i += 1
        }
        guard let key = words.first else { return nil }
        return (key.lowercased(), words.count > 1 ? words[1] : nil)
    }

    /// Keys git runs as a command (or that pull in configuration that may), by their
    /// lowercased name; an alias only when it is a shell alias ("!…").
    /// (core.hooksPath is persist.git_hooks'.)
    static let commandKeys: Set<String> = ["core.fsmonitor", "core.pager", "core.sshcommand", "core.editor", "core.askpass",
                                           "core.gitproxy", "sequence.editor", "diff.external", "gpg.program", "interactive.difffilter",
                                           "uploadpack.packobjectshook", "include.path", "credential.helper", "web.browser"]
    static let commandSuffixes = [".textconv", ".command", ".driver", ".clean", ".smudge", ".process", ".cmd", ".uploadpack",
                                  ".receivepack", ".program", ".path"]
    static let commandSections = ["diff.", "merge.", "filter.", "gpg.", "browser.", "man.", "difftool.", "mergetool.", "remote.", "includeif."]
    /// A pager or editor named plainly, which git runs and nothing more.
    static let plainPrograms: Set<Substring> = ["cat", "less", "more", "most", "vi", "vim", "nvim", "nano", "emacs", "true", "ed"]

    static func runsCommand(_ key: String, _ value: String?) -> Bool {
        if key.hasPrefix("alias.") { return value?.hasPrefix("!") ?? false }
        if key.hasPrefix("pager.") || key == "core.pager" || key == "core.editor" || key == "sequence.editor" {
            return !isPlainProgram(value)
        }
        if key == "credential.helper" {
            // the built-in helpers; a path or a "!" shell command runs the agent's program
            guard let v = value else { return false }
            return v.hasPrefix("!") || v.hasPrefix("/") || v.contains(" ")
        }
        if commandKeys.contains(key) { return true }
        return commandSections.contains { key.hasPrefix($0) } && commandSuffixes.contains { key.hasSuffix($0) }
    }

    /// "less -R", "cat": a plain program with flags, no shell.
    static func isPlainProgram(_ value: String?) -> Bool {
        guard let v = value else { return true }
        let words = v.split(separator: " ")
        guard let first = words.first, plainPrograms.contains(first) else { return false }
        return words.dropFirst().allSatisfy { $0.hasPrefix("-") && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } }
    }
}
