/// A program planted directly in a PATH directory shadows or adds a command every user runs.
struct PersistPathBinary: Rule, LocationGated {
    static let gate: [Place] = [.pathDirs]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.path_binary", severity: .high, action: .kill, mitre: "T1574.007",
                                    kinds: [.open, .rename, .link, .symlink, .chmod],
                                    title: "binaries planted in PATH directories (/usr/local/bin, /usr/bin, ~/.local/bin, ...)")

    static let dirs = Locations(.pathDirs, system: [
        "/usr/local/bin/", "/usr/local/sbin/", "/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/games/", "/snap/bin/",
    ], home: [".local/bin/", "bin/"])
    static let systemDirs: [[UInt8]] = PersistPathBinary.dirs.systemSpecs.map { Array($0.dropLast().utf8) }
    static let homeDirs: Set<Substring> = Set(PersistPathBinary.dirs.homeSpecs.map { Substring($0.dropLast()) })

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard ctx.pathMask & Place.pathDirs.mask != 0, let (path, op) = ctx.modified else { return nil }
        if op == .chmod, !e.addsExecBits { return nil }
        let dir = PathBytes.dirname(path)
        var inPath = PersistPathBinary.systemDirs.contains { dir.utf8.count == $0.count && dir.utf8.elementsEqual($0) }
        if !inPath, let rel = Homes.relative(path, homes: ctx.homes)?.rel,
           let slash = rel.utf8.lastIndex(of: PathBytes.slash) {
            inPath = PersistPathBinary.homeDirs.contains(rel[..<slash])
        }
        guard inPath, ctx.pathMask & Place.tether.mask == 0, !ctx.modifiedMayWrite else { return nil }
        return RuleHit(Describe.file("program in a PATH directory", path, op, e), subject: path, path: path)
    }
}
