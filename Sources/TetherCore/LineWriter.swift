import Foundation

/// Buffered line output to a file or stdout ("-"). Errors are remembered, not fatal:
/// the caller checks `failure` and reports it.
public final class LineWriter {
    private let file: UnsafeMutablePointer<FILE>
    private let ownsFile: Bool
    public let path: String
    public private(set) var failure: String?
    public private(set) var lines: UInt64 = 0

    public init(path: String, append: Bool = false) throws {
        self.path = path
        if path == "-" {
            file = stdout
            ownsFile = false
        } else {
            guard let f = fopen(path, append ? "a" : "w") else {
                throw LineWriterError(message: "cannot open \(path) for writing: \(String(cString: strerror(errno)))")
            }
            file = f
            ownsFile = true
        }
    }

    deinit { close() }

    public func write(_ line: String) {
        var l = line
        l.append("\n")
        l.withUTF8 { b in
            if fwrite(b.baseAddress, 1, b.count, file) != b.count, failure == nil {
                failure = "writing \(path): \(String(cString: strerror(errno)))"
            }
        }
        lines += 1
    }

    public func flush() {
        if fflush(file) != 0, failure == nil { failure = "writing \(path): \(String(cString: strerror(errno)))" }
    }

    private var closed = false
    public func close() {
        guard !closed else { return }
        closed = true
        flush()
        if ownsFile { fclose(file) }
    }
}

public struct LineWriterError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
