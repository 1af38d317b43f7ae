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

    public func matches(bytes: UnsafeBufferPointer<UInt8>) -> Bool { match(bytes).matched }

    /// Whether it matches, and how many states the search visited (the tests hold it to a bound).
    func match(_ bytes: UnsafeBufferPointer<UInt8>) -> (matched: Bool, steps: Int) {
        if let literal {
            return (literal.count == bytes.count && literal.withUnsafeBufferPointer { l in l.elementsEqual(bytes) }, 1)
        }
        return tokens.withUnsafeBufferPointer { t in
            // Backtracking is quick for every pattern a policy writes, but several `**` in one
            // pattern can try exponentially many splits: past a step budget, the same search
            // remembers the (token, byte) states that failed, which bounds it to |t|·|s|.
            var budget = Glob.stepBudget
            if let r = match(t, 0, bytes, 0, &budget, nil) { return (r, Glob.stepBudget - budget) }
            var failed = [Bool](repeating: false, count: (t.count + 1) * (bytes.count + 1))
            return failed.withUnsafeMutableBufferPointer { f in
                var unbounded = Int.max
                let r = match(t, 0, bytes, 0, &unbounded, f) ?? false
                return (r, Glob.stepBudget + (Int.max - unbounded))
            }
        }
    }

    static let stepBudget = 20_000

    /// nil when the budget ran out. With `failed`, states known to fail are not tried again.
    private func match(_ t: UnsafeBufferPointer<Token>, _ ti0: Int, _ s: UnsafeBufferPointer<UInt8>, _ si0: Int,
                       _ budget: inout Int, _ failed: UnsafeMutableBufferPointer<Bool>?) -> Bool? {
        budget -= 1
        if budget < 0 { return nil }
        let state = ti0 * (s.count + 1) + si0
        if let failed, failed[state] { return false }
        var ti = ti0, si = si0
        let slash = UInt8(ascii: "/")
        func fail() -> Bool {
            failed?[state] = true
            return false
        }
        while ti < t.count {
            switch t[ti] {
            case .byte(let c):
                guard si < s.count, s[si] == c else { return fail() }
                si += 1
            case .one:
                guard si < s.count, s[si] != slash else { return fail() }
                si += 1
            case .set(let ranges, let negated):
                guard si < s.count, s[si] != slash else { return fail() }
                let c = s[si]
                if ranges.contains(where: { $0.contains(c) }) == negated { return fail() }
                si += 1
            case .star:
                // Try every split that does not cross a '/'.
                var k = si
                while true {
                    guard let r = match(t, ti + 1, s, k, &budget, failed) else { return nil }
                    if r { return true }
                    guard k < s.count, s[k] != slash else { return fail() }
                    k += 1
                }
            case .deep:
                var k = si
                while true {
                    guard let r = match(t, ti + 1, s, k, &budget, failed) else { return nil }
                    if r { return true }
                    guard k < s.count else { return fail() }
                    k += 1
                }
            case .deepDirs:
                guard let r = match(t, ti + 1, s, si, &budget, failed) else { return nil }
                if r { return true }
                var k = si
                while k < s.count {
                    if s[k] == slash {
                        guard let r = match(t, ti + 1, s, k + 1, &budget, failed) else { return nil }
                        if r { return true }
                    }
                    k += 1
                }
                return fail()
            }
            ti += 1
        }
        return si == s.count ? true : fail()
    }
}
