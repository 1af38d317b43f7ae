import Glibc

/// Small reads of the host's files without Foundation, whose file APIs keep memory per call
/// (RSS grew ~0.5 KB per session when /proc was read through them): tetherd reads /proc for
/// processes it meets mid-life and the protected files every 30 s for their pre-images.
public enum HostFiles {
    /// A whole file of at most `max` bytes, or nil when it cannot be opened. Non-blocking
    /// (a FIFO at the path never holds the caller); `noFollow`: never through a symlink at
    /// the last component.
    public static func read(_ path: String, max: Int, noFollow: Bool = false) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (noFollow ? O_NOFOLLOW : 0))
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while out.count < max {
            let want = Swift.min(chunk.count, max - out.count)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, want) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// The names in a directory ("." and ".." left out), or nil when it cannot be read or
    /// holds more than `limit`.
    public static func entries(_ dir: String, limit: Int = 1 << 16) -> [String]? {
        guard let d = opendir(dir) else { return nil }
        defer { closedir(d) }
        var out: [String] = []
        while let ent = readdir(d) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.bindMemory(to: UInt8.self).prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            out.append(name)
            if out.count > limit { return nil }
        }
        return out
    }
}
