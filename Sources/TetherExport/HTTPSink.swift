import Foundation

/// Where the webhook sink posts: `http://HOST[:PORT][/PATH]` or `https://…`, with
/// `,format=tether|falco|ocsf`, `,batch=N` (up to N alerts per request as JSON lines;
/// 1, the default, is one JSON object per request, as falcosidekick takes it) and, for
/// https, the TLS options of `tls://` syslog (`ca=`, `cert=`, `key=`, `name=`).
public struct HTTPDestination: Sendable, Equatable, CustomStringConvertible {
    public var https: Bool
    public var host: String
    public var port: UInt16
    public var path: String
    public var format: AlertFormat = .tether
    public var batch: Int = 1
    public var tls = TLSOptions()

    public static let maxBatch = 1000

    public init(parsing text: String) throws {
        let (base, options) = try SinkOptions.split(text, what: "--http")
        if base.hasPrefix("https://") { https = true } else if base.hasPrefix("http://") { https = false } else {
            throw ExportError("--http \(text): expected http://HOST[:PORT][/PATH] or https://…")
        }
        var rest = String(base.dropFirst(https ? 8 : 7))
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = String(rest[..<slash])
        } else {
            path = "/"
        }
        guard !path.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else { throw ExportError("--http \(text): the path must not hold spaces or line breaks") }
        (host, port) = try HostPort.parse(rest, defaultPort: https ? 443 : 80, what: "--http \(text)")
        for (k, v) in options {
            switch k {
            case "format":
                guard let f = AlertFormat(rawValue: v.lowercased()) else {
                    throw ExportError("--http \(text): unknown format \(v) (expected \(AlertFormat.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                format = f
            case "batch":
                guard let n = Int(v), n >= 1, n <= HTTPDestination.maxBatch else { throw ExportError("--http \(text): batch=\(v): expected 1 to \(HTTPDestination.maxBatch)") }
                batch = n
            default:
                guard https, tls.take(k, v) else {
                    throw ExportError("--http \(text): unknown option `\(k)=` (format=, batch=; for https:// also ca=, cert=, key=, name=)")
                }
            }
        }
    }

    public var description: String {
        "\(https ? "https" : "http")://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path)"
    }
}

/// Alerts as HTTP POSTs to a collector (falcosidekick, a SIEM's HTTP input), queued (see
/// `QueuedSink`). A 2xx answer delivers; 408, 429 and 5xx, a timeout or a closed connection
/// are retried with backoff (delivery is at least once: an answer lost on the way means the
/// request is sent again); any other answer is the receiver refusing the alerts for good,
/// counted as dropped.
public final class HTTPSink: QueuedSink, @unchecked Sendable {
    public let destination: HTTPDestination

    public init(destination: HTTPDestination, options: Options = Options(), onStateChange: @escaping (String) -> Void = { _ in }) {
        self.destination = destination
        super.init(name: "http \(destination)" + (destination.format == .tether ? "" : " (\(destination.format.rawValue))"),
                   target: destination.description, transport: HTTPTransport(destination, options: options),
                   options: options, onStateChange: onStateChange)
    }
}

final class HTTPTransport: SinkTransport {
    let destination: HTTPDestination
    let options: QueuedSink.Options
    private var connection: StreamConnection?
    var batch: Int { destination.batch }
    /// An answer larger than this is not a collector's: the connection is dropped.
    static let maxResponse = 1 << 20

    init(_ d: HTTPDestination, options: QueuedSink.Options) {
        destination = d
        self.options = options
    }

    func open() throws {
        connection = try StreamConnection.open(host: destination.host, port: destination.port, tls: destination.https ? destination.tls : nil,
                                               label: destination.description, connectTimeout: options.connectTimeout, ioTimeout: options.sendTimeout)
    }

    func drop() { connection = nil }

    func deliver(_ alerts: ArraySlice<AlertRecord>) -> Delivery {
        // a kept-alive connection the collector closed meanwhile: open a fresh one, once
        if connection?.peerClosed ?? true {
            do { try open() } catch { return .failed("\(error)", lost: 0) }
        }
        guard let c = connection else { return .failed("not connected", lost: 0) }
        let lines = alerts.map { destination.format.encode($0) }
        let body = Array((destination.batch == 1 ? lines[0] : lines.joined(separator: "\n") + "\n").utf8)
        let hostHeader = destination.host.contains(":") ? "[\(destination.host)]" : destination.host
        let defaultPort: UInt16 = destination.https ? 443 : 80
        let head = "POST \(destination.path) HTTP/1.1\r\n"
            + "Host: \(hostHeader)\(destination.port == defaultPort ? "" : ":\(destination.port)")\r\n"
            + "User-Agent: tetherd\r\n"
            + "Content-Type: \(destination.batch == 1 ? "application/json" : "application/x-ndjson")\r\n"
            + "Content-Length: \(body.count)\r\n"
            + "Connection: keep-alive\r\n\r\n"
        if let why = c.write(Array(head.utf8) + body) { return .failed(why, lost: 0) }
        let answer: HTTPResponse
        do { answer = try HTTPResponse.read(from: c, limit: HTTPTransport.maxResponse) } catch {
            return .failed("\(error)", lost: 0)
        }
        if answer.close { connection = nil }
        switch answer.status {
        case 200..<300: return .sent
        case 408, 429, 500..<600: return .failed("the receiver answered \(answer.status) \(answer.reason)", lost: 0)
        default: return .rejected("the receiver answered \(answer.status) \(answer.reason)")
        }
    }
}

/// An HTTP/1.1 answer's status, read whole (headers, then the body by Content-Length or
/// chunks) so the connection can carry the next request.
struct HTTPResponse {
    var status: Int
    var reason: String
    /// The receiver will close the connection (or the body ran to its end).
    var close: Bool

    static func read(from c: StreamConnection, limit: Int) throws -> HTTPResponse {
        var buf: [UInt8] = []
        /// Reads until `buf` holds at least `n` bytes.
        func need(_ n: Int) throws {
            while buf.count < n {
                let b = try c.read()
                guard !b.isEmpty else { throw ExportError("the receiver closed the connection before answering in full") }
                buf += b
                guard buf.count <= limit else { throw ExportError("the receiver's answer is larger than \(limit) bytes") }
            }
        }
        /// The index of the next LF at or after `from`, reading as needed.
        func lineEnd(from: Int) throws -> Int {
            var i = from
            while true {
                try need(i + 1)
                if buf[i] == 10 { return i }
                i += 1
            }
        }
        // the head: lines up to an empty one
        var pos = 0
        var lines: [String] = []
        while true {
            let end = try lineEnd(from: pos)
            let line = String(decoding: buf[pos..<end], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            pos = end + 1
            if line.isEmpty && !lines.isEmpty { break }
            if !line.isEmpty { lines.append(line) }
        }
        let first = lines[0].split(separator: " ", maxSplits: 2).map(String.init)
        guard first.count >= 2, first[0].hasPrefix("HTTP/1."), let status = Int(first[1]), (100..<600).contains(status) else {
            throw ExportError("the receiver's answer is not HTTP: \(lines[0].prefix(80))")
        }
        var headers: [String: String] = [:]
        for l in lines.dropFirst() {
            guard let colon = l.firstIndex(of: ":") else { continue }
            headers[l[..<colon].lowercased()] = l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var close = headers["connection"]?.lowercased() == "close" || first[0] == "HTTP/1.0"
        if status == 204 || status == 304 || status < 200 {
            // no body
        } else if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            // size line, data, CRLF; a zero size ends it (trailers are not expected from a collector)
            while true {
                let end = try lineEnd(from: pos)
                let sizeText = String(decoding: buf[pos..<end], as: UTF8.self).split(separator: ";").first?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                guard let size = Int(sizeText, radix: 16), size >= 0, size <= limit else { throw ExportError("the receiver's chunked answer is malformed") }
                pos = end + 1
                try need(pos + size + 2) // the data and its CRLF (the last chunk's: the final CRLF)
                pos += size + 2
                if size == 0 { break }
            }
        } else if let l = headers["content-length"] {
            guard let n = Int(l), n >= 0, n <= limit else { throw ExportError("the receiver's Content-Length \(l) is not usable") }
            try need(pos + n)
        } else {
            close = true // the body runs to the end of the connection; nothing more can follow it
        }
        return HTTPResponse(status: status, reason: first.count > 2 ? first[2] : "", close: close)
    }
}
