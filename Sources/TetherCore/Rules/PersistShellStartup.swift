/// Shell startup files of any user and system-wide: bash, zsh, fish, sh profile,
/// profile.d, environment files, and the skeleton copied into new homes.
struct PersistShellStartup: Rule, LocationGated {
    static let gate: [Place] = [.shellStartup]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.shell_startup", severity: .high, action: .kill, mitre: "T1546.004",
                                    kinds: EventKind.modifying,
                                    title: "shell startup files (bash, zsh, fish, profile, profile.d, environment), any user")

    static let locations = Locations(.shellStartup, system: [
        "/etc/profile", "/etc/profile.d/", "/etc/bash.bashrc", "/etc/bashrc", "/etc/bash.bash_logout",
        "/etc/bash_completion.d/", "/etc/zsh/", "/etc/zshrc", "/etc/zshenv", "/etc/zprofile", "/etc/zlogin", "/etc/zlogout",
        "/etc/fish/", "/usr/share/fish/vendor_conf.d/", "/etc/environment", "/etc/environment.d/",
        "/usr/lib/environment.d/", "/etc/skel/", "/etc/csh.cshrc", "/etc/csh.login", "/etc/ksh.kshrc",
    ], home: [
        ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zshenv", ".zprofile",
        ".zlogin", ".zlogout", ".kshrc", ".cshrc", ".tcshrc", ".login", ".logout", ".config/fish/",
        ".config/environment.d/", ".pam_environment", ".xprofile", ".xsession", ".xsessionrc", ".xinitrc",
        ".bashrc.d/", ".zshrc.d/", ".oh-my-zsh/custom/",
        // what the startup files source: code that runs in every shell as surely as they do
        ".bash_aliases", ".cargo/env", ".local/bin/env", ".nvm/nvm.sh", ".sdkman/bin/sdkman-init.sh", ".ghcup/env",
        ".asdf/asdf.sh", ".rye/env", ".pyenv/.pyenvrc",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = PersistShellStartup.locations.modified(e, ctx) else { return nil }
        // fish keeps its history under ~/.config/fish on old versions: history is not startup code.
        if PathBytes.basename(path) == "fish_history" { return nil }
        return RuleHit(Describe.file("shell startup file", path, op, e), subject: path, path: path)
    }
}
