/// Shared pieces of the rules: persistence locations, command lines, exec matching.

/// A family of locations: files and directories in the system, and the same relative to
/// every user's home. Each family has a `Place` bit; the engine finds all families that
/// hold an event's path in one scan (`PlaceIndex`), and rules test their bit.
struct Locations: Sendable {
    let place: Place
    let systemSpecs: [String]
    let homeSpecs: [String]
    let system: PathSet
    let home: PathSet

    init(_ place: Place, system: [String], home: [String] = []) {
        self.place = place
        systemSpecs = system
        homeSpecs = home
        self.system = PathSet(system)
        self.home = PathSet(home)
    }

    var mask: UInt64 { place.mask }

    /// Slow path, for paths other than the event's primary one (a rename's source, a socket).
    func contains(_ path: String, homes: HomeSet?) -> Bool {
        if system.contains(path) { return true }
        if let rel = Homes.relative(path, homes: homes)?.rel, home.contains(rel) { return true }
        return false
    }

    /// The event's modified path if it is one of these locations. Deletions are not persistence.
    func modified(_ e: Event, _ ctx: RuleContext) -> (path: String, op: FileOp)? {
        guard ctx.pathMask & mask != 0, let m = ctx.modified, m.op != .delete else { return nil }
        return m
    }

    /// Is the event's primary path (modified, else opened) one of these locations?
    func holdsEventPath(_ ctx: RuleContext) -> Bool { ctx.pathMask & mask != 0 }
}

/// Location families, one bit each (at most 64).
enum Place: Int, CaseIterable, Sendable {
    case cron, at, systemd, initScripts, shellStartup, ssh, dynamicLinker, autostart, udev, motd, packageHooks
    case accounts, sudoers, pam, kernelModules, gitTemplates, kernelTunables, kernelTunablesExcluded, memoryDevices
    case systemLogs, shellHistory, containerSockets
    case secretPasswords, secretHost, secretCloud, secretCluster, secretRegistry, secretGit, secretNetrc, secretPackages, secretKeyStores
    case secretPackageConfigs
    case pathDirs, agentConfig, editorStartup, gitConfig
    /// Tether's own files (from the classifier's `TetherIdentity`, not from a rule).
    case tether
}

extension Place {
    var mask: UInt64 { UInt64(1) << UInt64(rawValue) }
}

/// Rules that look at an exec only when it runs one of a few programs (by basename). For
/// any other exec the engine does not call them (they still see their other kinds).
protocol ExecGated {
    static var execNames: [String] { get }
}

/// Rules whose file-change findings all lie in known location families. For a file
/// change elsewhere the engine does not call them (they still see their other kinds).
protocol LocationGated {
    static var gate: [Place] { get }
}

/// Every location family, indexed once: system specs in one table, home-relative specs in another.
final class PlaceIndex: @unchecked Sendable {
    static let registry: [Locations] = [
        PersistCron.locations, PersistAt.locations, PersistSystemd.unitDirs, PersistInitScripts.locations,
        PersistShellStartup.locations, PersistEditorStartup.locations, PersistSSH.locations, PersistDynamicLinker.locations, PersistAutostart.locations,
        PersistUdev.locations, PersistMotd.locations, PersistPackageHooks.locations, PersistAccounts.locations,
        PersistSudoers.locations, PersistPAM.locations, PersistKernelModules.locations, PersistGitHooks.templates, PersistGitConfig.locations,
        EscapeKernelTunables.locations, EscapeKernelTunables.excluded, EscapeRawDevice.memory, EscapeTamperLogs.logs,
        EscapeTamperHistory.histories, EscapeContainerSocket.lxd, PersistPathBinary.dirs, PersistAgentConfig.locations,
    ] + EscapeCredentials.secrets.map(\.locations)

    let system: PrefixTable
    let home: PrefixTable

    /// The rules' families and Tether's own paths (directories and binaries) as `.tether`.
    init(identity: TetherIdentity, registry all: [Locations] = PlaceIndex.registry) {
        var s = PrefixTable(), h = PrefixTable()
        for l in all {
            for spec in l.systemSpecs { s.insert(spec, bit: l.place.rawValue) }
            for spec in l.homeSpecs { h.insert(spec, bit: l.place.rawValue) }
        }
        for p in identity.paths { s.insert(p.hasSuffix("/") ? p : p + "/", bit: Place.tether.rawValue) }
        for b in identity.binaries { s.insert(b, bit: Place.tether.rawValue) }
        system = s
        home = h
    }

    /// Bits of every family holding `path` (as itself or below one of its directories), in
    /// the system and in every home: /home/*, /root, and the session's own (`homes`).
    func mask(_ path: String, homes: HomeSet?) -> UInt64 {
        PathBytes.with(path) { p in
            var m = system.match(p)
            if let rel = PathBytes.homeRelativeStart(p) { m |= home.match(p, from: rel) }
            if let homes, let (root, start) = homes.relative(p) {
                let under = homes.under(root)
                if under.isEmpty {
                    m |= home.match(p, from: start)
                } else { // below XDG_CONFIG_HOME: the home-relative ".config/…" it stands for
                    let rel = under + p[start...]
                    m |= rel.withUnsafeBufferPointer { home.match($0) }
                }
            }
            return m
        }
    }
}

enum Describe {
    /// "label: /etc/cron.d/x created (attempt failed: EACCES)"
    static func file(_ label: String, _ path: String, _ op: FileOp, _ e: Event) -> String {
        "\(label): \(path) \(op.verb)\(e.outcomeNote)"
    }

    /// The command line of an exec, shortened for a one-line message.
    static func command(_ e: Event) -> String {
        let words = e.argv ?? (e.path.map { [$0] } ?? [])
        var s = words.joined(separator: " ")
        if s.count > 160 { s = String(s.prefix(157)) + "..." }
        return s
    }
}

enum Exec {
    /// The words after argv[0].
    static func args(_ e: Event) -> ArraySlice<String> { (e.argv ?? []).dropFirst() }

    /// First argument that is one of `verbs` (options and their values are skipped because
    /// they are never verbs).
    static func verb(_ e: Event, _ verbs: Set<String>) -> String? {
        args(e).first { verbs.contains($0) }
    }

    static func hasFlag(_ e: Event, _ flags: Set<String>) -> Bool {
        args(e).contains { a in
            if flags.contains(a) { return true }
            // Bundled short options: "-lR" has "-l".
            if a.utf8.count > 2, a.hasPrefix("-"), !a.hasPrefix("--") {
                return a.dropFirst().contains { flags.contains("-\($0)") }
            }
            if let eq = a.firstIndex(of: "="), a.hasPrefix("--") { return flags.contains(String(a[..<eq])) }
            return false
        }
    }

    /// Interpreters that run a script file given as an argument.
    static let interpreters: Set<String> = ["sh", "bash", "dash", "zsh", "ksh", "fish", "perl", "ruby", "node", "php", "lua", "bun", "deno"]
    static func isInterpreter(_ name: String) -> Bool {
        interpreters.contains(name) || name.hasPrefix("python") || name.hasPrefix("pypy")
    }

    /// The script an interpreter exec runs (first non-option argument), absolute.
    static func scriptPath(_ e: Event, name: String?) -> String? {
        guard let name, isInterpreter(name) else { return nil }
        var skipNext = false
        for a in args(e) {
            if skipNext { skipNext = false; continue }
            if a == "-c" || a == "-e" || a == "-m" { return nil } // inline code or a module, not a file
            if a.hasPrefix("-") { continue }
            if a.hasPrefix("/") { return Paths.normalize(a) }
            guard let cwd = e.cwd else { return nil }
            return Paths.join(cwd, a)
        }
        return nil
    }
}

extension RuleContext {
    /// The exe of a process (the event's own, or from the table).
    func exe(of e: Event) -> String? { e.exe ?? table.lookup(e.pid)?.exe }

    /// The name a process can be trusted to go by, for a credential's own-tool exemption
    /// (ssh may read SSH keys): the basename of its executable, when the kernel opened it from
    /// a system directory (owned by root and writable by no one else, where the kernel said
    /// so) and no loader variable put the caller's code into it; for an interpreter, its
    /// script's (the #! script the kernel exec'd, or an absolute first argument after harmless
    /// flags: gcloud is `python3 -S …/gcloud.py`), from a system directory, with no
    /// interpreter variable either. nil: none. argv[0], comm and a copy's own name are the
    /// caller's words, never the program's identity (`exec -a ssh cat`, `cp /bin/cat ssh`).
    func trustedName(_ e: Event) -> Substring? {
        guard let p = table.lookup(e.pid), !p.exe.isEmpty, Identity.systemProgram(p.exe) else { return nil }
        if let owner = p.exeOwner, owner != 0 { return nil }
        if let mode = p.exeMode, mode & 0o022 != 0 { return nil }
        if p.injected.contains(where: { ExecEnvironment.loader.contains(Substring($0)) || $0 == ExecEnvironment.unread }) { return nil }
        let name = PathBytes.basename(p.exe)
        guard Exec.isInterpreter(String(name)) else { return name }
        guard p.injected.isEmpty, let script = p.script ?? Identity.scriptArgument(p.argv, interpreter: name),
              Identity.systemProgram(script) else { return nil }
        var b = PathBytes.basename(script)
        if b.hasSuffix(".py") || b.hasSuffix(".js") { b = b.dropLast(3) }
        return b
    }
}

/// Where a program's identity can be trusted from.
enum Identity {
    /// Directories only root writes to; a session writing there is itself a finding
    /// (persist.path_binary, escape.write), so what runs from them is the system's.
    static let systemDirectories = ["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/", "/usr/libexec/", "/usr/lib/", "/usr/lib64/",
                                    "/lib/", "/usr/local/bin/", "/usr/local/sbin/", "/usr/local/lib/", "/usr/share/", "/opt/", "/snap/"]

    static func systemProgram(_ path: String) -> Bool {
        systemDirectories.contains { path.hasPrefix($0) } && !path.contains("/../")
    }

    /// Flags before the script that only change how Python runs it, never what: -S, -E, -I,
    /// -s, -B, -u, -O, … (not -c, -m, -i, -X, -W, which run other code or take a value).
    static let harmlessPythonFlags = Set("BEIOPqsSubdv")

    /// The script an interpreter's argv names as its first argument: an absolute path after
    /// harmless flags only (python), or right away (any other interpreter).
    static func scriptArgument(_ argv: [String], interpreter: Substring) -> String? {
        for a in argv.dropFirst() {
            if a.hasPrefix("-") {
                guard interpreter.hasPrefix("python"), a.count > 1, a.dropFirst().allSatisfy({ harmlessPythonFlags.contains($0) }) else { return nil }
                continue
            }
            return a.hasPrefix("/") ? Paths.normalize(a) : nil
        }
        return nil
    }
}
