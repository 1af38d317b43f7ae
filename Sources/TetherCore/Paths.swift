#if canImport(Glibc)
import Glibc
#endif

/// Lexical path arithmetic for paths the kernel resolved only in part: a requested
/// string joined to its base directory. `..` is applied lexically, so a symlinked
/// directory inside the requested string is not followed (see README, "Paths").
public enum Paths {
    /// `base` + `/` + `relative`, with `.`, `..` and repeated slashes removed.
    public static func join(_ base: String, _ relative: String) -> String {
        if relative.hasPrefix("/") { return normalize(relative) }
        if relative.isEmpty { return normalize(base) }
        return normalize(base + "/" + relative)
    }

    public static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for c in path.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(c)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Is `path` equal to `root` or below it?
    /// `path` with its directory resolved on this host now (symlinks followed), its last
    /// component kept as is; nil if the directory cannot be resolved.
    public static func resolvingDirectory(_ path: String) -> String? {
        guard let slash = path.lastIndex(of: "/") else { return nil }
        let dir = slash == path.startIndex ? "/" : String(path[..<slash])
        let name = path[path.index(after: slash)...]
        guard !name.isEmpty, let real = realpath(dir, nil) else { return nil }
        defer { free(real) }
        let resolved = String(cString: real)
        return (resolved == "/" ? "" : resolved) + "/" + name
    }

    public static func isWithin(_ path: String, _ root: String) -> Bool {
        if root == "/" { return path.hasPrefix("/") }
        if path == root { return true }
        return path.hasPrefix(root) && path.utf8.count > root.utf8.count
            && path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: root.utf8.count)] == UInt8(ascii: "/")
    }
}
