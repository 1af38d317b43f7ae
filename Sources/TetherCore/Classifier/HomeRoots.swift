import Foundation

/// Where a session's homes really are. `/home/*` and `/root` are homes for everyone; beyond
/// them, the session user's passwd home, and the HOME, ZDOTDIR, XDG_CONFIG_HOME and
/// XDG_DATA_HOME its members were exec'd with, as the kernel read them from each exec's new
/// environment (`Event.env`): a sandboxed agent, a service account or a CI runner keeps its
/// `~/.bashrc`, `~/.config/systemd/user` and `~/.aws` there, and so do the programs it
/// starts. A path below XDG_CONFIG_HOME stands for `~/.config/…`, below XDG_DATA_HOME for
/// `~/.local/share/…`; ZDOTDIR is read as a home (zsh's startup files are there).
/// Learned homes only add places to watch: a forged HOME can make more noise, never less.
///
/// The rules read an immutable `HomeSet` (taken anew when a home is learned): the per-event
/// lookups touch no mutable state and allocate nothing.
public final class HomeRoots: @unchecked Sendable {
    /// The homes as the rules read them; nil while there is none beyond /home, /root and a
    /// passwd home below them (the fast paths apply then).
    public private(set) var set: HomeSet?
    private var roots: [HomeSet.Root] = []
    /// HOMEs below /home or /root (matched as homes anyway): the session's own, not another user's.
    private var standard: [String] = []
    /// The passwd home, whose `~/` roots the session's boundary already holds (`expand` leaves it out).
    private var passwd: String?
    private var lastLearned: [String] = []
    /// Homes learned beyond this many are not watched (a member exec'ing with ever new
    /// HOMEs); counted, and said by `tether run`/`tetherd` through `dropped`.
    static let limit = 64
    public private(set) var dropped = 0

    /// The variables that name a home, and what a path below each stands for.
    static let variables: [(name: String, under: String)] = [
        ("HOME", ""), ("ZDOTDIR", ""), ("XDG_CONFIG_HOME", ".config/"), ("XDG_DATA_HOME", ".local/share/"),
    ]

    public init(passwd: String?) { include(passwd) }

    /// Adds the session user's passwd home (below /home or /root: nothing to add, the rules
    /// compare with it as `RuleContext.home`).
    public func include(_ home: String?) {
        guard let home else { return }
        passwd = Paths.normalize(home)
        if !Homes.isStandardHome(Array(passwd!.utf8)) { add(home, under: "") }
    }

    /// Any home beyond the passwd one learned (the common case is none).
    public var learnedAny: Bool { roots.contains { $0.path != passwd } || standard.contains { $0 != passwd } }

    /// The homes known here, as paths with what a path below each stands for ("" for a
    /// home, ".config/" for XDG_CONFIG_HOME, …).
    public var learned: [(path: String, under: String)] {
        roots.map { ($0.path, String(decoding: $0.under, as: UTF8.self)) } + standard.map { ($0, "") }
    }

    /// Learns the homes an exec's environment names (`Event.env`); returns the new ones.
    @discardableResult
    public func learn(_ env: [String]) -> [String] {
        // most execs of a session run with the environment of the one before
        if env == lastLearned { return [] }
        lastLearned = env
        var new: [String] = []
        for v in env {
            guard let eq = v.utf8.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let name = Substring(v)[..<eq]
            guard let spec = HomeRoots.variables.first(where: { $0.name == name }) else { continue }
            let value = String(Substring(v)[v.utf8.index(after: eq)...])
            if add(value, under: spec.under) { new.append(value) }
        }
        return new
    }

    @discardableResult
    private func add(_ raw: String, under: String) -> Bool {
        // only absolute, normalized; "/" is no home (everything would be below it)
        guard raw.hasPrefix("/") else { return false }
        let path = Paths.normalize(raw)
        guard path != "/" else { return false }
        let bytes = Array(path.utf8), u = Array(under.utf8)
        if u.isEmpty, Homes.isStandardHome(bytes) {
            // /home/u and /root are homes for everyone already: only "not another user's"
            guard path != passwd, !standard.contains(path) else { return false }
            standard.append(path)
        } else {
            if roots.contains(where: { $0.bytes == bytes && $0.under == u }) { return false }
            guard roots.count + standard.count < HomeRoots.limit else { dropped += 1; return false }
            roots.append(HomeSet.Root(path: path, bytes: bytes, under: u))
        }
        set = HomeSet(roots: roots, standard: standard)
        return true
    }

    /// A policy root written `~/…` as it reads in each learned home (`~/.config/x` below
    /// XDG_CONFIG_HOME is its `x`); other roots are not the homes' business.
    func expand(_ spec: String) -> [String] {
        guard spec.hasPrefix("~/") else { return [] }
        let rel = spec.dropFirst(2)
        return roots.compactMap { r in
            let under = String(decoding: r.under, as: UTF8.self)
            return r.path != passwd && rel.hasPrefix(under) ? r.path + "/" + rel.dropFirst(under.count) : nil
        } + standard.map { $0 + "/" + rel }
    }
}

/// The homes of a session beyond /home and /root, as the rules read them: immutable.
public final class HomeSet: Sendable {
    struct Root: Sendable {
        let path: String
        let bytes: [UInt8]
        /// What the part below it stands for in home-relative terms: "" (a home),
        /// ".config/" (XDG_CONFIG_HOME), ".local/share/" (XDG_DATA_HOME).
        let under: [UInt8]
    }
    let roots: [Root]
    /// Learned homes below /home or /root.
    let standard: [String]

    /// The byte lengths of every home here: most paths are no home by their length alone.
    let lengths: Set<Int>

    init(roots: [Root], standard: [String]) {
        self.roots = roots
        self.standard = standard
        lengths = Set(roots.map(\.bytes.count) + standard.map(\.utf8.count))
    }

    /// For `p` below one of the roots (the deepest, when several hold it): which root, and
    /// where the part below it starts.
    func relative(_ p: UnsafeBufferPointer<UInt8>) -> (root: Int, start: Int)? {
        var best: (root: Int, start: Int)?
        for i in roots.indices {
            let n = roots[i].bytes.count
            guard n + 1 < p.count, p[n] == PathBytes.slash, best == nil || n + 1 > best!.start, PathBytes.same(p, roots[i].bytes) else { continue }
            best = (i, n + 1)
        }
        return best
    }

    func under(_ root: Int) -> [UInt8] { roots[root].under }

    /// Is `dir` one of the session's own homes (learned, or the passwd home elsewhere)?
    func holds(_ dir: Substring) -> Bool {
        // no allocation: asked for paths that are no home at all
        guard lengths.contains(dir.utf8.count) else { return false }
        return roots.contains { $0.bytes.count == dir.utf8.count && $0.path.utf8.elementsEqual(dir.utf8) }
            || standard.contains { $0.utf8.count == dir.utf8.count && $0.utf8.elementsEqual(dir.utf8) }
    }
}

extension Homes {
    /// "/home/u" or "/root": a home for everyone.
    static func isStandardHome(_ b: [UInt8]) -> Bool {
        if b == Array("/root".utf8) { return true }
        guard b.count > homePrefix.count, b.starts(with: homePrefix) else { return false }
        return !b[homePrefix.count...].contains(PathBytes.slash)
    }
}

/// The homes learned by every session of a host (`HomeRoots.learned` of each), for the
/// kernel's guards: a front end installs the persistence locations below them when
/// `generation` moves. Bounded; what is past the bound is counted, and the rules still
/// judge it. Thread-safe: the classifier adds, the front end's timer reads.
public final class LearnedHomes: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(path: String, under: String)] = []
    private var keys = Set<String>()
    private var gen = 0
    /// The homes past `limit`, each counted once however often it is merged again (up to
    /// `droppedLimit` of them; past that, every merge of one more counts).
    private var droppedKeys = Set<String>()
    private var droppedBeyond = 0
    static let limit = 256
    static let droppedLimit = 4096

    /// Moves each time a home is added.
    public var generation: Int {
        lock.lock()
        defer { lock.unlock() }
        return gen
    }

    public init() {}

    func merge(_ homes: [(path: String, under: String)]) {
        lock.lock()
        defer { lock.unlock() }
        for h in homes {
            let key = h.under + "\u{0}" + h.path
            guard !keys.contains(key) else { continue }
            guard entries.count < LearnedHomes.limit else {
                if droppedKeys.count < LearnedHomes.droppedLimit { droppedKeys.insert(key) } else if !droppedKeys.contains(key) { droppedBeyond += 1 }
                continue
            }
            keys.insert(key)
            entries.append(h)
            gen += 1
        }
    }

    /// The homes and the generation they are at.
    public func snapshot() -> (generation: Int, homes: [(path: String, under: String)], dropped: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (gen, entries, droppedKeys.count + droppedBeyond)
    }
}
