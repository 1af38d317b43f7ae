import Foundation
import TetherCore

/// An alert as an OCSF Detection Finding (class 2004, category Findings), OCSF 1.2.0
/// (README, "OCSF format"): the rule as the finding's title, the process and its parent,
/// the file or network endpoint, what the kernel or the responder did as `action_id` /
/// `disposition_id`, and Tether's own fields under `unmapped.tether`. The objects it shares
/// with the session events (OCSFEvents) are built here: process, file, endpoint, device,
/// metadata. Written with the events' JSON writer, not JSONSerialization, which costs
/// hundreds of microseconds a record: too slow for `--events`.
public enum OCSFJSON {
    public static let version = "1.2.0"

    static func severity(_ s: AlertSeverity) -> (Int, String) {
        switch s {
        case .low: return (2, "Low")
        case .medium: return (3, "Medium")
        case .high: return (4, "High")
        case .critical: return (5, "Critical")
        }
    }

    /// OCSF's action (1 Allowed, 2 Denied) and disposition (2 Blocked, 3 Quarantined,
    /// 4 Isolated, 15 Detected) for what was done.
    static func disposition(_ a: AlertRecord) -> (action: Int, actionName: String, disposition: Int, dispositionName: String) {
        let outcome = a.outcome ?? ""
        guard a.enforced else { return (1, "Allowed", 15, "Detected") }
        if outcome.contains("undone") { return (2, "Denied", 3, "Quarantined") }
        if outcome.contains("refused") || a.action == "kill" || outcome.contains("killed") { return (2, "Denied", 2, "Blocked") }
        if a.action == "stop" || outcome.contains("stopped") { return (2, "Denied", 4, "Isolated") }
        return (1, "Allowed", 15, "Detected")
    }

    /// OCSF's file type ids (`file.type_id`) and their captions.
    enum FileType: Int {
        case unknown = 0, regular = 1, folder = 2, characterDevice = 3, blockDevice = 4, localSocket = 5, namedPipe = 6, symbolicLink = 7

        var caption: String {
            switch self {
            case .unknown: return "Unknown"
            case .regular: return "Regular File"
            case .folder: return "Folder"
            case .characterDevice: return "Character Device"
            case .blockDevice: return "Block Device"
            case .localSocket: return "Local Socket"
            case .namedPipe: return "Named Pipe"
            case .symbolicLink: return "Symbolic Link"
            }
        }

        /// The type a mknod mode's S_IFMT bits name (0 is a regular file, as mknod takes it).
        init(mode: UInt32) {
            switch mode & 0o170000 {
            case 0, 0o100000: self = .regular
            case 0o020000: self = .characterDevice
            case 0o060000: self = .blockDevice
            case 0o010000: self = .namedPipe
            case 0o140000: self = .localSocket
            case 0o040000: self = .folder
            case 0o120000: self = .symbolicLink
            default: self = .unknown
            }
        }
    }

    static func basename(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }

    /// OCSF's file object. `name` is required by OCSF: a file with no path (a memfd, a
    /// device seen by number) names itself.
    static func file(_ path: String?, name: String? = nil, type: FileType = .regular, owner: UInt32? = nil) -> String {
        var w = JSONObjectWriter(capacity: 2 * (path?.utf8.count ?? 0) + 64)
        w.optString("path", path)
        w.string("name", name ?? path.map(basename) ?? "")
        w.int("type_id", Int64(type.rawValue))
        w.string("type", type.caption)
        if let owner { w.raw("owner", user(owner)) }
        return w.finish()
    }

    /// OCSF's user object: Linux has only the number for certain (names are the host's
    /// passwd, which the recording may not be read on).
    static func user(_ uid: UInt32) -> String {
        var w = JSONObjectWriter(capacity: 24)
        w.string("uid", String(uid))
        return w.finish()
    }

    /// OCSF's process object from what Tether knows of one: `argv` only where an event or
    /// the process table carries it (exec), `exe` the kernel-resolved executable.
    static func process(pid: Int32, tid: Int32? = nil, argv: [String]?, exe: String?, comm: String? = nil, cwd: String?,
                        uid: UInt32? = nil, parent: String? = nil) -> String {
        var w = JSONObjectWriter(capacity: 256)
        w.int("pid", Int64(pid))
        if let tid { w.int("tid", Int64(tid)) }
        if let argv { w.string("cmd_line", argv.joined(separator: " ")) }
        if let exe, !exe.isEmpty {
            w.raw("file", file(exe))
            w.string("name", basename(exe))
        } else if let comm, !comm.isEmpty {
            w.string("name", comm)
        }
        w.optString("working_directory", cwd)
        if let uid { w.raw("user", user(uid)) }
        if let parent { w.raw("parent_process", parent) }
        return w.finish()
    }

    static func process(_ p: AlertProcess, parent: AlertProcess?) -> String {
        process(pid: p.pid, argv: p.argv, exe: p.exe, cwd: p.cwd, parent: parent.map { process($0, parent: nil) })
    }

    /// An IP literal of either family: what OCSF's `ip` (pydantic's IPvAnyAddress) takes.
    static func isIPLiteral(_ s: String) -> Bool {
        var b = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, s, &b) == 1 || inet_pton(AF_INET6, s, &b) == 1
    }

    /// OCSF's network endpoint: an IP literal as `ip`, anything else (a unix socket path,
    /// an abstract name) as `name`.
    static func endpoint(_ addr: String?, port: UInt16?, hostname: String? = nil) -> String {
        var w = JSONObjectWriter(capacity: 96)
        if let addr {
            if isIPLiteral(addr) {
                w.string("ip", addr)
                if let port { w.uint("port", UInt64(port)) }
            } else {
                w.string("name", addr)
            }
        }
        w.optString("hostname", hostname)
        return w.finish()
    }

    /// This host, as every record names it.
    static let device: String = {
        var w = JSONObjectWriter(capacity: 96)
        w.string("hostname", FalcoJSON.hostname)
        w.int("type_id", 0)
        w.string("type", "Unknown")
        return w.finish()
    }()

    static func metadata(uid: String? = nil, correlation: String? = nil) -> String {
        var product = JSONObjectWriter(capacity: 64)
        product.string("name", "Tether")
        product.string("vendor_name", "Tether")
        product.string("uid", "tether")
        var w = JSONObjectWriter(capacity: 160)
        w.string("version", version)
        w.string("log_name", "tether")
        w.optString("uid", uid)
        w.optString("correlation_uid", correlation)
        w.raw("product", product.finish())
        return w.finish()
    }

    /// Milliseconds since the epoch; a time no Int64 holds (a decoded alert's) is 0, never a trap.
    static func milliseconds(_ d: Date) -> Int64 {
        let ms = (d.timeIntervalSince1970 * 1000).rounded()
        return ms.isFinite && abs(ms) < 9.0e18 ? Int64(ms) : 0
    }

    public static func encode(_ a: AlertRecord) -> String {
        let ms = milliseconds(a.time)
        let (sevID, sev) = severity(a.severity)
        let d = disposition(a)
        let uid = "\(a.session.isEmpty ? "host" : a.session)-\(a.rule)-\(ms)"
        var finding = JSONObjectWriter(capacity: 256)
        finding.string("title", a.rule)
        finding.string("desc", a.message)
        finding.string("uid", uid)
        finding.strings("types", [a.rule.split(separator: ".").first.map(String.init) ?? "tether"])
        finding.string("product_uid", "tether")
        if !a.mitre.isEmpty {
            var technique = JSONObjectWriter(capacity: 32)
            technique.string("uid", a.mitre)
            finding.raw("attacks", "[{\"technique\":" + technique.finish() + "}]")
        }
        var evidence = JSONObjectWriter(capacity: 512)
        var evidenced = false
        if let me = a.ancestry.first {
            evidence.raw("process", process(me, parent: a.ancestry.count > 1 ? a.ancestry[1] : nil))
            evidenced = true
        }
        if let p = a.path {
            evidence.raw("file", file(p))
            evidenced = true
        }
        if let addr = a.address {
            // "ip:port" or "[ip6]:port" as AlertRecord writes it, or a unix socket path
            if let colon = addr.lastIndex(of: ":"), let port = UInt16(addr[addr.index(after: colon)...]),
               case let host = String(addr[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), isIPLiteral(host) {
                evidence.raw("dst_endpoint", endpoint(host, port: port))
            } else {
                evidence.raw("dst_endpoint", endpoint(addr, port: nil))
            }
            evidenced = true
        }
        var tether = JSONObjectWriter(capacity: 256)
        tether.string("rule", a.rule)
        tether.string("action", a.action)
        tether.bool("enforced", a.enforced)
        if !a.session.isEmpty { tether.string("session", a.session) }
        tether.optString("agent", a.agent)
        tether.optString("outcome", a.outcome)
        if !a.details.isEmpty {
            var details = JSONObjectWriter(capacity: 128)
            for (k, v) in a.details.sorted(by: { $0.key < $1.key }) { details.string(dataKey: k, v) }
            tether.raw("details", details.finish())
        }
        var w = JSONObjectWriter(capacity: 1536)
        w.int("class_uid", 2004)
        w.string("class_name", "Detection Finding")
        w.int("category_uid", 2)
        w.string("category_name", "Findings")
        w.int("activity_id", 1)
        w.string("activity_name", "Create")
        w.int("type_uid", 200401)
        w.string("type_name", "Detection Finding: Create")
        w.int("time", ms)
        w.int("severity_id", Int64(sevID))
        w.string("severity", sev)
        w.int("status_id", 1)
        w.string("status", "New")
        w.string("message", a.message)
        w.int("action_id", Int64(d.action))
        w.string("action", d.actionName)
        w.int("disposition_id", Int64(d.disposition))
        w.string("disposition", d.dispositionName)
        w.raw("metadata", metadata(uid: uid))
        w.raw("finding_info", finding.finish())
        w.raw("device", device)
        if evidenced { w.raw("evidences", "[" + evidence.finish() + "]") }
        w.raw("unmapped", "{\"tether\":" + tether.finish() + "}")
        return w.finish()
    }
}
