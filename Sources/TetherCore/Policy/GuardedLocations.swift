import Foundation

/// The persistence locations the installed guard plan protects or notes, as it resolved
/// them on this host (homes included): directories, and files named on their own. A
/// change whose destination the kernel could not place (`unresolved`: a directory on the
/// way it could not search, a symlink it could not follow) is looked for there by the
/// name it made, so that a symlink swapped before user space resolves the path cannot hide
/// where it landed (HostLookups). Written by the plan's install, read by the pipeline.
public enum GuardedLocations {
    private static let registry = Registry()
    final class Registry: @unchecked Sendable {
        let lock = NSLock()
        var directories: [String] = []
        var files: [String] = []
    }

    public static func set(directories: [String], files: [String]) {
        registry.lock.lock()
        registry.directories = directories
        registry.files = files
        registry.lock.unlock()
    }

    /// Where a name made by a change could be among them: each directory's entry of that
    /// name, and the files of that name.
    public static func candidates(named name: Substring) -> [String] {
        guard !name.isEmpty, name != ".", name != ".." else { return [] }
        registry.lock.lock()
        defer { registry.lock.unlock() }
        return registry.directories.map { ($0 == "/" ? "" : $0) + "/" + name } + registry.files.filter { PathBytes.basename($0) == name }
    }
}
