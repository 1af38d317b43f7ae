import CTetherCrypto

/// SHA-256 (OpenSSL's libcrypto), as lowercase hex.
public enum Digest {
    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> String {
        var out = [UInt8](repeating: 0, count: 32)
        _ = tc_sha256(bytes.baseAddress, bytes.count, &out)
        return hex(out)
    }

    public static func sha256(_ s: String) -> String {
        var s = s
        return s.withUTF8 { sha256(UnsafeRawBufferPointer($0)) }
    }

    /// A regular file's size and digest (not following a symlink at `path`); nil with the
    /// reason when it cannot be read. Files over `limit` bytes are digested up to it.
    public struct File: Sendable, Equatable {
        public var size: UInt64
        public var sha256: String
        /// false: larger than the limit, the digest covers its first `limit` bytes.
        public var complete: Bool
    }

    public static func file(_ path: String, limit: UInt64 = 256 << 20) -> Result<File, FileError> {
        var out = [UInt8](repeating: 0, count: 32)
        var size: UInt64 = 0
        var complete: Int32 = 0
        let rc = tc_sha256_file(path, limit, &out, &size, &complete)
        guard rc == 0 else { return .failure(FileError(errno: -rc)) }
        return .success(File(size: size, sha256: hex(out), complete: complete != 0))
    }

    public struct FileError: Error, Sendable, Equatable {
        public var errno: Int32
    }

    static let digits = Array("0123456789abcdef".utf8)
    static func hex(_ b: [UInt8]) -> String {
        var s = [UInt8]()
        s.reserveCapacity(b.count * 2)
        for x in b { s.append(digits[Int(x >> 4)]); s.append(digits[Int(x & 0xf)]) }
        return String(decoding: s, as: UTF8.self)
    }
}
