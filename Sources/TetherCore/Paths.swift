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
        var bytes: [UInt8] = []
        bytes.reserveCapacity(base.utf8.count + 1 + relative.utf8.count)
        bytes.append(contentsOf: base.utf8)
        bytes.append(slash)
        bytes.append(contentsOf: relative.utf8)
        return bytes.withUnsafeBufferPointer { normalized($0) ?? String(decoding: $0, as: UTF8.self) }
    }

    /// An absolute `path` as a process whose root is `root` (a chroot) names it: `..` stops
    /// at that root, as the kernel's lookup does.
    public static func under(root: String, _ path: String) -> String {
        let inside = normalize(path)
        return inside == "/" ? normalize(root) : join(root, String(inside.dropFirst()))
    }

    /// `path` made absolute, with `.`, `..` and repeated slashes removed. Works on the
    /// UTF-8 bytes (this runs for every event with a path that is not the kernel's own),
    /// and returns `path` itself when there is nothing to remove.
    public static func normalize(_ path: String) -> String {
        var path = path
        return path.withUTF8 { normalized($0) } ?? path
    }

    private static let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")

    /// The normal form of `b`, or nil when `b` is already in it.
    private static func normalized(_ b: UnsafeBufferPointer<UInt8>) -> String? {
        if isNormal(b) { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(b.count + 1)
        var i = 0
        while i < b.count {
            if b[i] == slash { i += 1; continue }
            var j = i
            while j < b.count && b[j] != slash { j += 1 }
            if j - i == 1 && b[i] == dot {
                // "." names the directory itself
            } else if j - i == 2 && b[i] == dot && b[i + 1] == dot {
                while let last = out.popLast(), last != slash {} // ".." drops the last component
            } else {
                out.append(slash)
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<j]))
            }
            i = j
        }
        return out.isEmpty ? "/" : String(decoding: out, as: UTF8.self)
    }

    /// Absolute, no empty, `.` or `..` component, no trailing slash (except "/" itself).
    private static func isNormal(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard b.first == slash else { return false }
        if b.count == 1 { return true }
        var start = 1
        for i in 1...b.count where i == b.count || b[i] == slash {
            let len = i - start
            if len == 0 || (b[start] == dot && (len == 1 || (len == 2 && b[start + 1] == dot))) { return false }
            start = i + 1
        }
        return true
    }

    /// Is `path` equal to `root` or below it?
    public static func isWithin(_ path: String, _ root: String) -> Bool {
        if root == "/" { return path.hasPrefix("/") }
        if path == root { return true }
        return path.hasPrefix(root) && path.utf8.count > root.utf8.count
            && path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: root.utf8.count)] == UInt8(ascii: "/")
    }
}
