import Foundation
import TetherCore

/// What only the live host can tell about an event, looked up before the pure core sees
/// it (never for a recording, which may come from another host).
extension Event {
    /// A rename/link/symlink destination the kernel could not resolve (a symlinked
    /// directory on the way: its path here is lexical) is resolved now, in user space,
    /// so that rules see where it landed. The caller's string stays in `requested`.
    mutating func resolveUnresolvedDestination() {
        guard guardActions.contains(.unresolved), succeeded else { return }
        if kind == .symlink {
            guard let p = path, let r = HostPaths.resolvingDirectory(p), r != p else { return }
            if requested == nil { requested = p }
            path = r
        } else {
            guard let p = newPath, let r = HostPaths.resolvingDirectory(p), r != p else { return }
            if newRequested == nil { newRequested = p }
            newPath = r
        }
    }
}

enum HostPaths {
    /// `path` with its directory resolved on this host now (symlinks followed), its last
    /// component kept as is; nil if the directory cannot be resolved.
    static func resolvingDirectory(_ path: String) -> String? {
        guard let slash = path.lastIndex(of: "/") else { return nil }
        let dir = slash == path.startIndex ? "/" : String(path[..<slash])
        let name = path[path.index(after: slash)...]
        guard !name.isEmpty, let real = realpath(dir, nil) else { return nil }
        defer { free(real) }
        let resolved = String(cString: real)
        return (resolved == "/" ? "" : resolved) + "/" + name
    }
}
