#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IP address as 128 bits; IPv4 is kept IPv4-mapped (::ffff:a.b.c.d) so one CIDR type
/// covers both families and `::ffff:10.0.0.1` from an IPv6 socket matches `10.0.0.0/8`.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }

    /// Parses dotted IPv4 or any IPv6 text form; nil if it is neither.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            let host = UInt32(bigEndian: v4.s_addr)
            high = 0
            low = 0x0000_ffff_0000_0000 | UInt64(host)
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: &v6) { raw in for i in 0..<16 { bytes[i] = raw[i] } }
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { l = l << 8 | UInt64(bytes[i]) }
        high = h
        low = l
    }

    public var isIPv4: Bool { high == 0 && low >> 32 == 0x0000_ffff }

    public var description: String {
        if isIPv4 {
            let v = UInt32(truncatingIfNeeded: low)
            return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
        }
        var parts: [String] = []
        for i in 0..<4 { parts.append(String(UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * i)), radix: 16)) }
        for i in 0..<4 { parts.append(String(UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * i)), radix: 16)) }
        return parts.joined(separator: ":")
    }

    /// 127.0.0.0/8, ::1, and the unspecified addresses (connecting to 0.0.0.0 or :: reaches this host).
    public var isLoopback: Bool {
        if isIPv4 {
            let v = UInt32(truncatingIfNeeded: low)
            return v >> 24 == 127 || v == 0
        }
        return high == 0 && (low == 1 || low == 0)
    }
}

/// `ADDRESS/PREFIX`, IPv4 or IPv6; a bare address is a /32 or /128.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let network: IPAddress
    /// Prefix length in the 128-bit space (an IPv4 /8 is stored as 96+8).
    public let bits: Int
    public let text: String

    public struct SyntaxError: Error { public var message: String }

    public init(_ text: String) throws {
        self.text = text
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let addr = IPAddress(String(parts[0])) else {
            throw SyntaxError(message: "'\(text)' is not an IP address or CIDR (e.g. 10.0.0.0/8, fd00::/8)")
        }
        let maxLen = addr.isIPv4 ? 32 : 128
        var len = maxLen
        if parts.count == 2 {
            guard let n = Int(parts[1]), n >= 0, n <= maxLen else {
                throw SyntaxError(message: "'\(text)': prefix length must be 0...\(maxLen)")
            }
            len = n
        }
        bits = addr.isIPv4 ? 96 + len : len
        let masked = CIDR.mask(addr, bits)
        guard masked == addr else {
            throw SyntaxError(message: "'\(text)' has host bits set; did you mean \(masked)/\(len)?")
        }
        network = masked
    }

    public func contains(_ a: IPAddress) -> Bool { CIDR.mask(a, bits) == network }

    public var description: String { text }

    static func mask(_ a: IPAddress, _ bits: Int) -> IPAddress {
        func m(_ v: UInt64, _ n: Int) -> UInt64 { n <= 0 ? 0 : n >= 64 ? v : v & ~(UInt64.max >> UInt64(n)) }
        return IPAddress(high: m(a.high, bits), low: m(a.low, bits - 64))
    }
}
