/// A compiled path glob: `*` (any run of characters but `/`), `?` (one character but `/`),
/// `[abc]`, `[a-z]`, `[!abc]` / `[^abc]` (one character of a class, never `/`), `**` (any run,
/// `/` included; `/**/` also matches a single `/`), `\x` (a literal x). Matching works on
/// UTF-8 bytes, so it never allocates.
public struct Glob: Sendable, Equatable, CustomStringConvertible {
    public let pattern: String
    private let tokens: [Token]
    /// Pattern has no wildcard at all: a plain byte comparison suffices.
    private let literal: [UInt8]?

    enum Token: Sendable, Equatable {
        case byte(UInt8)
        case one
        case star
        /// `**` (crosses `/`).
        case deep
        /// `**/`: nothing, or any run that ends in `/`.
        case deepDirs
        case set([ClosedRange<UInt8>], negated: Bool)
    }

    public struct SyntaxError: Error, Equatable {
        public var message: String
        /// 0-based offset of the problem in the pattern, in characters.
        public var offset: Int
    }

    public init(_ pattern: String) throws {
        self.pattern = pattern
        let b = Array(pattern.utf8)
        var t: [Token] = []
        var i = 0
        var wild = false
        while i < b.count {
            let c = b[i]
            switch c {
            case UInt8(ascii: "\\"):
                guard i + 1 < b.count else { throw SyntaxError(message: "pattern ends in a lone backslash", offset: i) }
                t.append(.byte(b[i + 1]))
                i += 2
                continue
            case UInt8(ascii: "?"):
                t.append(.one); wild = true
            case UInt8(ascii: "*"):
                wild = true
                if i + 1 < b.count, b[i + 1] == UInt8(ascii: "*") {
                    if i + 2 < b.count, b[i + 2] == UInt8(ascii: "/") {
                        t.append(.deepDirs); i += 3
                    } else {
                        t.append(.deep); i += 2
                    }
                    while i < b.count, b[i] == UInt8(ascii: "*") { i += 1 } // "***" = "**"
                    continue
                }
                t.append(.star)
            case UInt8(ascii: "["):
                wild = true
                let open = i
                i += 1
                var negated = false
                if i < b.count, b[i] == UInt8(ascii: "!") || b[i] == UInt8(ascii: "^") { negated = true; i += 1 }
                var ranges: [ClosedRange<UInt8>] = []
                var first = true
                while true {
                    guard i < b.count else { throw SyntaxError(message: "unclosed '[' in pattern", offset: open) }
                    var lo = b[i]
                    if lo == UInt8(ascii: "]"), !first { break }
                    if lo == UInt8(ascii: "\\") {
                        guard i + 1 < b.count else { throw SyntaxError(message: "unclosed '[' in pattern", offset: open) }
                        i += 1; lo = b[i]
                    }
                    first = false
                    if i + 2 < b.count, b[i + 1] == UInt8(ascii: "-"), b[i + 2] != UInt8(ascii: "]") {
                        let hi = b[i + 2]
                        guard lo <= hi else {
                            throw SyntaxError(message: "bad range '\(Character(Unicode.Scalar(lo)))-\(Character(Unicode.Scalar(hi)))' in pattern", offset: i)
                        }
                        ranges.append(lo...hi)
                        i += 3
                    } else {
                        ranges.append(lo...lo)
                        i += 1
                    }
                }
                t.append(.set(ranges, negated: negated))
            default:
                t.append(.byte(c))
            }
            i += 1
        }
        tokens = t
        literal = wild ? nil : t.map { if case .byte(let x) = $0 { return x } else { return 0 } }
    }

    public var description: String { pattern }
    public var hasWildcards: Bool { literal == nil }

    public static func == (a: Glob, b: Glob) -> Bool { a.pattern == b.pattern }

    /// Does the whole of `text` match?
    public func matches(_ text: String) -> Bool {
        var s = text
        return s.withUTF8 { matches(bytes: $0) }
    }

    public func matches(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        if let literal {
            return literal.count == bytes.count && literal.withUnsafeBufferPointer { l in
                l.elementsEqual(bytes)
            }
        }
        return tokens.withUnsafeBufferPointer { match($0, 0, bytes, 0) }
    }

    private func match(_ t: UnsafeBufferPointer<Token>, _ ti0: Int, _ s: UnsafeBufferPointer<UInt8>, _ si0: Int) -> Bool {
        var ti = ti0, si = si0
        let slash = UInt8(ascii: "/")
        while ti < t.count {
            switch t[ti] {
            case .byte(let c):
                guard si < s.count, s[si] == c else { return false }
                si += 1
            case .one:
                guard si < s.count, s[si] != slash else { return false }
                si += 1
            case .set(let ranges, let negated):
                guard si < s.count, s[si] != slash else { return false }
                let c = s[si]
                if ranges.contains(where: { $0.contains(c) }) == negated { return false }
                si += 1
            case .star:
                // Try every split that does not cross a '/'.
                var k = si
                while true {
                    if match(t, ti + 1, s, k) { return true }
                    guard k < s.count, s[k] != slash else { return false }
                    k += 1
                }
            case .deep:
                var k = si
                while true {
                    if match(t, ti + 1, s, k) { return true }
                    guard k < s.count else { return false }
                    k += 1
                }
            case .deepDirs:
                if match(t, ti + 1, s, si) { return true }
                var k = si
                while k < s.count {
                    if s[k] == slash, match(t, ti + 1, s, k + 1) { return true }
                    k += 1
                }
                return false
            }
            ti += 1
        }
        return si == s.count
    }
}
