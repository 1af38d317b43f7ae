/// Editors' startup files of any user and system-wide: vim and neovim run `:!` commands and
/// autocommands from them, emacs runs Lisp; the next time a person opens a file, the
/// agent's command runs as that person.
struct PersistEditorStartup: Rule, LocationGated {
    static let gate: [Place] = [.editorStartup]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.editor_startup", severity: .high, action: .kill, mitre: "T1546",
                                    kinds: EventKind.modifying,
                                    title: "editor startup files and plugins (vim, neovim, emacs), any user")

    static let locations = Locations(.editorStartup, system: [
        "/etc/vim/vimrc", "/etc/vim/vimrc.local", "/etc/vim/gvimrc", "/usr/share/vim/vimfiles/plugin/",
        "/usr/share/vim/vimfiles/after/", "/etc/xdg/nvim/", "/usr/share/nvim/site/plugin/", "/etc/emacs/site-start.d/",
        "/usr/share/emacs/site-lisp/site-start.el", "/etc/nanorc",
    ], home: [
        ".vimrc", ".gvimrc", ".exrc", ".vim/plugin/", ".vim/ftplugin/", ".vim/after/", ".vim/autoload/", ".vim/pack/",
        ".config/nvim/", ".local/share/nvim/site/plugin/", ".local/share/nvim/site/pack/",
        ".emacs", ".emacs.el", ".emacs.d/init.el", ".emacs.d/early-init.el", ".config/emacs/init.el", ".config/emacs/early-init.el",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = PersistEditorStartup.locations.modified(e, ctx) else { return nil }
        return RuleHit(Describe.file("editor startup file", path, op, e), subject: path, path: path)
    }
}
