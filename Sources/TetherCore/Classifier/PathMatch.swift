import Foundation

/// Byte-level path matching for the classifier's hot path: no regex, no splitting, no
/// allocation per event. Paths are the kernel's absolute paths.
enum PathBytes {
    static let slash = UInt8(ascii: "/")

    /// The first `n` bytes of `p` are `prefix`'s.
    @inline(__always)
    static func same(_ p: UnsafeBufferPointer<UInt8>, _ prefix: [UInt8]) -> Bool {
        prefix.count <= p.count && (prefix.isEmpty || prefix.withUnsafeBufferPointer { memcmp($0.baseAddress!, p.baseAddress!, $0.count) == 0 })
    }

    /// `path` starts with `prefix` (bytes).
    @inline(__always)
    static func hasPrefix(_ path: String, _ prefix: [UInt8]) -> Bool {
        path.utf8.count >= prefix.count && with(path) { same($0, prefix) }
    }

    /// `path` is `dir` or below it (`dir` has no trailing slash).
    @inline(__always)
    static func isWithin(_ path: String, _ dir: [UInt8]) -> Bool {
        path.utf8.count >= dir.count && with(path) { p in
            same(p, dir) && (p.count == dir.count || p[dir.count] == slash)
        }
    }

    /// `path` is exactly `file`.
    @inline(__always)
    static func equals(_ path: String, _ file: [UInt8]) -> Bool {
        path.utf8.count == file.count && with(path) { same($0, file) }
    }

    /// Does `path` end with `suffix` (e.g. ".pth")?
    static func hasSuffix(_ path: String, _ suffix: [UInt8]) -> Bool {
        with(path) { p in
            p.count >= suffix.count && suffix.withUnsafeBufferPointer { s in
                memcmp(p.baseAddress! + (p.count - s.count), s.baseAddress!, s.count) == 0
            }
        }
    }

    /// Does `needle` occur anywhere in `path`?
    static func contains(_ path: String, _ needle: [UInt8]) -> Bool {
        with(path) { p in
            guard p.count >= needle.count, !needle.isEmpty else { return false }
            return needle.withUnsafeBufferPointer { n in
                // memchr to each candidate first byte, then memcmp (memmem is a GNU extension Swift does not see).
                var at = UnsafeRawPointer(p.baseAddress!)
                let end = at + p.count
                while end - at >= n.count, let hit = memchr(at, Int32(n[0]), end - at) {
                    let h = UnsafeRawPointer(hit)
                    if end - h < n.count { return false }
                    if memcmp(h, n.baseAddress!, n.count) == 0 { return true }
                    at = h + 1
                }
                return false
            }
        }
    }

    /// The last path component.
    static func basename(_ path: Substring) -> Substring {
        guard let i = path.utf8.lastIndex(of: slash) else { return path }
        return path[path.utf8.index(after: i)...]
    }

    static func basename(_ path: String) -> Substring { basename(Substring(path)) }

    /// The directory part ("/a/b" for "/a/b/c").
    static func dirname(_ path: String) -> Substring {
        guard let i = path.utf8.lastIndex(of: slash) else { return "" }
        if i == path.utf8.startIndex { return "/" }
        return Substring(path)[..<i]
    }

    /// Is `component` one of the path's components (e.g. "site-packages")?
    static func hasComponent(_ path: String, _ component: [UInt8]) -> Bool {
        let u = Array(path.utf8)
        var i = 0
        while i < u.count {
            if u[i] == slash {
                let start = i + 1
                var end = start
                while end < u.count, u[end] != slash { end += 1 }
                if end - start == component.count, u[start..<end].elementsEqual(component) { return true }
                i = end
            } else {
                i += 1
            }
        }
        return false
    }

    /// For `/proc/PID/...`: the pid and the rest ("environ"); nil for other paths.
    static let procPrefix = Array("/proc/".utf8)

    static func procPid(_ path: String) -> (pid: Int32, rest: Substring)? {
        guard hasPrefix(path, procPrefix) else { return nil }
        let p = Substring(path)
        let tail = p.dropFirst(6)
        let digits = tail.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let pid = Int32(digits) else { return nil }
        var rest = tail.dropFirst(digits.count)
        if rest.first == "/" { rest = rest.dropFirst() }
        return (pid, rest)
    }
}

/// A fixed set of locations, written as strings: "/etc/crontab" is one file,
/// "/etc/cron.d/" (trailing slash) is a directory and everything below it.
struct PathSet: Sendable {
    private let files: [[UInt8]]
    private let dirs: [[UInt8]]

    init(_ specs: [String]) {
        var f: [[UInt8]] = [], d: [[UInt8]] = []
        for s in specs {
            if s.hasSuffix("/") { d.append(Array(s.dropLast().utf8)) } else { f.append(Array(s.utf8)) }
        }
        files = f
        dirs = d
    }

    /// The matching spec, or nil.
    func contains(_ path: String) -> Bool {
        for f in files where PathBytes.equals(path, f) { return true }
        for d in dirs where PathBytes.isWithin(path, d) { return true }
        return false
    }

    /// Like `contains`, for a path relative to a home directory ("rel" of "/home/u/rel").
    func contains(_ rel: Substring) -> Bool {
        let u = rel.utf8
        for f in files where u.count == f.count && u.elementsEqual(f) { return true }
        for d in dirs where u.count >= d.count && u.starts(with: d) {
            if u.count == d.count || u[u.index(u.startIndex, offsetBy: d.count)] == PathBytes.slash { return true }
        }
        return false
    }
}

/// Home directories: which home a path is in, and the part below it.
enum Homes {
    static let homePrefix = Array("/home/".utf8)
    static let rootPrefix = Array("/root/".utf8)

    /// For "/home/u/.bashrc": (home "/home/u", rel ".bashrc"). Also "/root/..." and the
    /// session's own homes elsewhere (`HomeRoots`, the deepest that holds the path first): a
    /// path below XDG_CONFIG_HOME reads as ".config/…".
    static func relative(_ path: String, homes: HomeSet?) -> (home: Substring, rel: Substring)? {
        // (start, root): root -1 for /home/u and /root
        let found: (start: Int, root: Int)? = PathBytes.with(path) { p in
            if let homes, let (root, start) = homes.relative(p) { return (start, root) }
            return PathBytes.homeRelativeStart(p).map { ($0, -1) }
        }
        guard let found else { return nil }
        let u = path.utf8
        let relStart = u.index(u.startIndex, offsetBy: found.start)
        let homeEnd = u.index(before: relStart)
        let rel = Substring(path)[relStart...]
        guard found.root >= 0, let homes, case let under = homes.under(found.root), !under.isEmpty else { return (Substring(path)[..<homeEnd], rel) }
        return (Substring(path)[..<homeEnd], Substring(String(decoding: under, as: UTF8.self) + rel))
    }

    /// The home directory `path` is in or is ("/home/u" for "/home/u" and "/home/u/x").
    static func home(of path: String, homes: HomeSet?) -> Substring? {
        if let r = relative(path, homes: homes) { return r.home }
        let u = path.utf8
        if u.count > homePrefix.count, PathBytes.hasPrefix(path, homePrefix), !path.utf8.dropFirst(homePrefix.count).contains(PathBytes.slash) {
            return Substring(path)
        }
        if path == "/root" || homes?.holds(Substring(path)) == true { return Substring(path) }
        return nil
    }
}

/// Compiled boundary roots: plain prefixes compare bytes (a hash table when there are
/// many); glob roots cover what they match and everything below.
struct RootSet: Sendable {
    private(set) var prefixes: [[UInt8]] = []
    private var table = PrefixTable()
    private(set) var globs: [Glob] = []
    private(set) var texts: [String] = []

    init() {}

    /// `roots` as written in the policy: `~` is `home`, `$UID` is `uid`.
    init(_ roots: [String], home: String?, uid: UInt32) {
        for r in roots { add(r, home: home, uid: uid) }
    }

    /// A root as written in the policy, made absolute: `~` is `home`, `$UID` is `uid`; nil
    /// when it covers nothing (a `~` root without a home, a relative root, `/`).
    static func expand(_ raw: String, home: String?, uid: UInt32) -> String? {
        var r = raw
        if r == "~" || r.hasPrefix("~/") {
            guard let home, home != "/" else { return nil } // no home: a ~ root covers nothing
            r = home + r.dropFirst()
        }
        if r.contains("$UID") { r = r.replacingOccurrences(of: "$UID", with: String(uid)) }
        while r.count > 1, r.hasSuffix("/") { r.removeLast() }
        guard r.hasPrefix("/"), r != "/" else { return nil }
        return r
    }

    mutating func add(_ raw: String, home: String?, uid: UInt32) {
        guard let r = Self.expand(raw, home: home, uid: uid) else { return }
        texts.append(r)
        if let g = try? Glob(r), g.hasWildcards {
            globs.append(g)
            if let deep = try? Glob(r + "/**") { globs.append(deep) }
        } else {
            prefixes.append(Array(r.utf8))
            table.insert(r + "/", bit: 0)
        }
    }

    var isEmpty: Bool { prefixes.isEmpty && globs.isEmpty }

    func contains(_ path: String) -> Bool {
        if prefixes.count <= 4 {
            for p in prefixes where PathBytes.isWithin(path, p) { return true }
        } else if PathBytes.with(path, { table.match($0) }) != 0 {
            return true
        }
        for g in globs where g.matches(path) { return true }
        return false
    }
}

/// Byte strings in an open-addressing hash table, asked in one pass over a path which of
/// them are the path itself or a directory above it. The classifier's hot path: one scan
/// per event instead of a comparison per location per rule.
struct PrefixTable: Sendable {
    struct Entry: Sendable {
        var hash: UInt64
        var bytes: [UInt8]
        /// Bits of sets that hold this as a directory (it and everything below).
        var dirMask: UInt64
        /// Bits of sets that hold this as a single file.
        var fileMask: UInt64
    }
    private(set) var entries: [Entry] = []
    private var slots: [Int32] = [Int32](repeating: -1, count: 16)

    var isEmpty: Bool { entries.isEmpty }

    static func fnv(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }

    /// Adds "/etc/cron.d/" (a directory: trailing slash) or "/etc/crontab" (a file) under `bit`.
    /// Every directory above it goes in too, with no bits: a scan that meets a prefix not in
    /// the table knows nothing below it can match and stops.
    mutating func insert(_ spec: String, bit: Int) {
        var bytes = Array(spec.utf8)
        let isDir = bytes.last == PathBytes.slash
        while bytes.count > 1, bytes.last == PathBytes.slash { bytes.removeLast() }
        for (i, b) in bytes.enumerated() where b == PathBytes.slash && i > 0 { add(Array(bytes[..<i]), dir: 0, file: 0) }
        let m = UInt64(1) << UInt64(bit)
        add(bytes, dir: isDir ? m : 0, file: isDir ? 0 : m)
    }

    private mutating func add(_ bytes: [UInt8], dir: UInt64, file: UInt64) {
        let h = PrefixTable.fnv(bytes)
        if let i = find(h, bytes) {
            entries[i].dirMask |= dir
            entries[i].fileMask |= file
            return
        }
        entries.append(Entry(hash: h, bytes: bytes, dirMask: dir, fileMask: file))
        if entries.count * 2 > slots.count { rehash(slots.count * 2) } else { place(entries.count - 1) }
    }

    private mutating func rehash(_ n: Int) {
        slots = [Int32](repeating: -1, count: n)
        for i in entries.indices { place(i) }
    }

    private mutating func place(_ i: Int) {
        let mask = slots.count - 1
        var s = Int(truncatingIfNeeded: entries[i].hash) & mask
        while slots[s] >= 0 { s = (s + 1) & mask }
        slots[s] = Int32(i)
    }

    private func find(_ h: UInt64, _ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { b in find(h, b, 0, b.count) }
    }

    @inline(__always)
    private func find(_ h: UInt64, _ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int? {
        let mask = slots.count - 1
        var s = Int(truncatingIfNeeded: h) & mask
        while true {
            let i = slots[s]
            if i < 0 { return nil }
            let k = Int(i)
            if entries[k].hash == h, entries[k].bytes.count == end - start,
               entries[k].bytes.withUnsafeBufferPointer({ end == start || memcmp($0.baseAddress!, p.baseAddress! + start, end - start) == 0 }) {
                return k
            }
            s = (s + 1) & mask
        }
    }

    /// Bits of every set holding `p[start...]` as a file, or holding it or a directory above it.
    func match(_ p: UnsafeBufferPointer<UInt8>, from start: Int = 0) -> UInt64 {
        guard !entries.isEmpty, start < p.count else { return 0 }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var out: UInt64 = 0
        var i = start
        while i < p.count {
            let c = p[i]
            if c == PathBytes.slash, i > start {
                guard let k = find(h, p, start, i) else { return out } // nothing is below an unknown directory
                out |= entries[k].dirMask
            }
            h = (h ^ UInt64(c)) &* 0x0000_0100_0000_01b3
            i += 1
        }
        if let k = find(h, p, start, p.count) { out |= entries[k].dirMask | entries[k].fileMask }
        return out
    }
}

extension PathBytes {
    /// The UTF-8 bytes of `s` without copying when the string is native (it almost always is).
    @inline(__always)
    static func with<R>(_ s: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let r = s.utf8.withContiguousStorageIfAvailable(body) { return r }
        return Array(s.utf8).withUnsafeBufferPointer(body)
    }

    /// Where the home-relative part of `p` starts ("/home/u/" + rel, "/root/" + rel), or nil
    /// if `p` is not below one of those homes (for the session's others, see `HomeRoots`).
    static func homeRelativeStart(_ p: UnsafeBufferPointer<UInt8>) -> Int? {
        func starts(_ prefix: [UInt8]) -> Bool {
            prefix.count <= p.count && prefix.withUnsafeBufferPointer { memcmp($0.baseAddress!, p.baseAddress!, prefix.count) == 0 }
        }
        if starts(Homes.homePrefix) {
            var i = Homes.homePrefix.count
            while i < p.count, p[i] != slash { i += 1 }
            return i + 1 < p.count && i > Homes.homePrefix.count ? i + 1 : nil
        }
        if starts(Homes.rootPrefix) { return Homes.rootPrefix.count < p.count ? Homes.rootPrefix.count : nil }
        return nil
    }
}
