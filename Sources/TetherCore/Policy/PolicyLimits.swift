/// The bounds a policy keeps. A policy is a small file that root writes, but a broken or
/// hostile one must still not take the daemon down: deep nesting overflows a recursive
/// parser's stack, aliases multiply nodes ("billion laughs"), and every number that turns
/// into nanoseconds or a timer must fit. Checked on the text before it is parsed, and on
/// values as they are read.
public enum PolicyLimits {
    /// Bytes of policy text.
    public static let maxBytes = 1 << 20
    /// Nesting of lists and mappings.
    public static let maxDepth = 64
    /// Errors reported for one file; past these, a count.
    public static let maxErrors = 100
    /// Longest duration (grace_period, term_grace, `tether run --grace`): 7 days.
    public static let maxSeconds = 7 * 86_400.0

    /// The first reason `text` cannot be parsed safely, with its line and column.
    static func check(_ text: String) -> (line: Int, column: Int, message: String)? {
        let bytes = Array(text.utf8)
        if bytes.count > maxBytes {
            return (1, 1, "the policy is \(bytes.count) bytes; at most \(maxBytes) are read")
        }
        var line = 1, col = 0
        var single = false, double = false, comment = false, escaped = false
        var flow = 0
        var atLineStart = true, indent = 0, dashes = 0
        var prev: UInt8 = UInt8(ascii: "\n")
        for b in bytes {
            col += 1
            if b == UInt8(ascii: "\n") {
                line += 1
                col = 0
                comment = false
                atLineStart = true
                indent = 0
                dashes = 0
                prev = b
                continue
            }
            if comment { prev = b; continue }
            if double {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { double = false }
                prev = b
                continue
            }
            if single {
                if b == UInt8(ascii: "'") { single = false }
                prev = b
                continue
            }
            let tokenStart = prev == UInt8(ascii: " ") || prev == UInt8(ascii: "\t") || prev == UInt8(ascii: "\n")
                || prev == UInt8(ascii: "[") || prev == UInt8(ascii: "{") || prev == UInt8(ascii: ",")
            if atLineStart {
                if b == UInt8(ascii: " ") {
                    indent += 1
                    if indent > maxDepth * 8 { return (line, col, "indented more than \(maxDepth * 8) columns: the policy nests too deep") }
                    prev = b
                    continue
                }
                if b == UInt8(ascii: "-") && tokenStart {
                    dashes += 1
                    if dashes > maxDepth { return (line, col, "lists nested more than \(maxDepth) deep") }
                    prev = b
                    continue
                }
                atLineStart = false
            }
            switch b {
            case UInt8(ascii: "#") where tokenStart: comment = true
            case UInt8(ascii: "\"") where tokenStart: double = true
            case UInt8(ascii: "'") where tokenStart: single = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                flow += 1
                if flow > maxDepth { return (line, col, "lists and mappings nested more than \(maxDepth) deep") }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                flow = max(0, flow - 1)
            case UInt8(ascii: "&"), UInt8(ascii: "*"):
                if tokenStart { return (line, col, "YAML anchors (&name) and aliases (*name) are not allowed in a policy; quote a value that starts with '\(Character(UnicodeScalar(b)))'") }
            default:
                break
            }
            prev = b
        }
        return nil
    }
}
