/// Where a session's homes really are. `/home/*` and `/root` are homes for everyone; beyond
/// them, the session user's passwd home, and the HOME, ZDOTDIR, XDG_CONFIG_HOME and
/// XDG_DATA_HOME its members were exec'd with, as the kernel read them from each exec's new
/// environment (`Event.env`): a sandboxed agent, a service account or a CI runner keeps its
/// `~/.bashrc`, `~/.config/systemd/user` and `~/.aws` there, and so do the programs it
/// starts. A path below XDG_CONFIG_HOME stands for `~/.config/…`, below XDG_DATA_HOME for
/// `~/.local/share/…`; ZDOTDIR is read as a home (zsh's startup files are there).
/// Learned homes only add places to watch: a forged HOME can make more noise, never less.
public final class HomeRoots: @unchecked Sendable {
    struct Root: Sendable {
        let path: String
        let bytes: [UInt8]
        /// What the part below it stands for in home-relative terms: "" (a home),
        /// ".config/" (XDG_CONFIG_HOME), ".local/share/" (XDG_DATA_HOME).
        let under: [UInt8]
    }

    /// The passwd home first (when it is not below /home or /root, which are homes anyway),
    /// then learned ones, in the order seen.
    private(set) var roots: [Root] = []
    /// HOMEs below /home or /root (matched as homes anyway): the session's own, not another user's.
    private(set) var standard: Set<String> = []
    /// Homes learned beyond this many are not watched (a member exec'ing with ever new
    /// HOMEs); counted, and said by `tether run`/`tetherd` through `dropped`.
    static let limit = 64
    public private(set) var dropped = 0

    /// The variables that name a home, and what a path below each stands for.
    static let variables: [(name: String, under: String)] = [
        ("HOME", ""), ("ZDOTDIR", ""), ("XDG_CONFIG_HOME", ".config/"), ("XDG_DATA_HOME", ".local/share/"),
    ]

    public init(passwd: String?) { include(passwd) }

    /// Adds a home known otherwise (the session user's passwd home).
    public func include(_ home: String?) {
        if let home { add(home, under: "") }
    }

    /// The homes known here, as paths with what a path below each stands for ("" for a
    /// home, ".config/" for XDG_CONFIG_HOME, …).
    public var learned: [(path: String, under: String)] {
        roots.map { ($0.path, String(decoding: $0.under, as: UTF8.self)) } + standard.sorted().map { ($0, "") }
    }

    /// Learns the homes an exec's environment names (`Event.env`); returns the new ones.
    @discardableResult
    public func learn(_ env: [String]) -> [String] {
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
        // /home/u and /root are homes for everyone already
        if u.isEmpty, Homes.isStandardHome(bytes) { return standard.insert(path).inserted }
        if roots.contains(where: { $0.bytes == bytes && $0.under == u }) { return false }
        guard roots.count < HomeRoots.limit else { dropped += 1; return false }
        roots.append(Root(path: path, bytes: bytes, under: u))
        return true
    }

    /// For `p` below one of these roots (the deepest, when several hold it): where the part
    /// below it starts, and what stands before that part in home-relative terms.
    func relative(_ p: UnsafeBufferPointer<UInt8>) -> (root: Root, start: Int)? {
        var best: (root: Root, start: Int)?
        for r in roots where r.bytes.count + 1 < p.count && p[r.bytes.count] == PathBytes.slash && PathBytes.same(p, r.bytes) {
            if best == nil || r.bytes.count > best!.root.bytes.count { best = (r, r.bytes.count + 1) }
        }
        return best
    }

    /// A policy root written `~/…` as it reads in each of these homes (`~/.config/x` below
    /// XDG_CONFIG_HOME is its `x`); other roots are not the homes' business.
    func expand(_ spec: String) -> [String] {
        guard spec.hasPrefix("~/") else { return [] }
        let rel = spec.dropFirst(2)
        return roots.compactMap { r in
            let under = String(decoding: r.under, as: UTF8.self)
            return rel.hasPrefix(under) ? r.path + "/" + rel.dropFirst(under.count) : nil
        } + standard.map { $0 + "/" + rel }
    }

    /// Is `dir` one of the session's own homes (learned, or the passwd home)?
    func holds(_ dir: Substring) -> Bool {
        roots.contains { $0.path.utf8.elementsEqual(dir.utf8) } || standard.contains(String(dir))
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
