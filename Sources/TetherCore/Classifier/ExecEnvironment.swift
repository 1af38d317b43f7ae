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
    /// Their first bytes: every exec's HOME is passed over on one byte.
    static let firstBytes: Set<UInt8> = Set((loader.union(interpreter)).compactMap { $0.utf8.first })

    /// Stands for variables the kernel could not read or keep whole (`Event.envIncomplete`,
    /// `envCut`): any of them may be a loader's.
    public static let unread = "(environment not read whole)"

    /// The loader and interpreter variables `env` sets to something ("LD_PRELOAD=" is unset).
    public static func injected(_ env: [String]) -> [String] {
        var out: [String] = []
        for v in env {
            let u = v.utf8
            guard let first = u.first, firstBytes.contains(first), let eq = u.firstIndex(of: UInt8(ascii: "=")),
                  u.index(after: eq) != u.endIndex else { continue }
            let name = Substring(v)[..<eq]
            if loader.contains(name) || interpreter.contains(name) { out.append(String(name)) }
        }
        return out
    }
}
