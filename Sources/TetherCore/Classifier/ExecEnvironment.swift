/// What an exec's environment says, from the variables the kernel kept of it (`Event.env`,
/// "NAME=value"): where the process's homes are (`HomeRoots`), and whether the caller's code
/// runs inside the program whatever the program is (a loader or interpreter variable).
public enum ExecEnvironment {
    /// The dynamic loader loads these into any program: its identity says nothing then.
    public static let loader: Set<Substring> = ["LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH"]
    /// An interpreter runs the caller's code with these (PYTHONPATH puts a module ahead of
    /// the program's own, NODE_OPTIONS=--require a file, BASH_ENV a startup file, …).
    public static let interpreter: Set<Substring> = ["PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT", "NODE_OPTIONS",
                                                     "NODE_PATH", "PERL5OPT", "PERL5LIB", "RUBYOPT", "RUBYLIB", "BASH_ENV"]

    /// Stands for variables the kernel could not read or keep whole (`Event.envIncomplete`,
    /// `envCut`): any of them may be a loader's.
    public static let unread = "(environment not read whole)"

    /// The loader and interpreter variables `env` sets to something ("LD_PRELOAD=" is unset).
    public static func injected(_ env: [String]) -> [String] {
        env.compactMap { v in
            guard let eq = v.firstIndex(of: "="), v.index(after: eq) != v.endIndex else { return nil }
            let name = v[..<eq]
            return loader.contains(name) || interpreter.contains(name) ? String(name) : nil
        }
    }
}
