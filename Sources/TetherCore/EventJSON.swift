import Foundation

/// Events as JSON lines: one object per line, the field names documented in README.md.
/// Hand-written encoder (the hot path of `--events`); the decoder serves `replay`.
public enum EventJSON {
    public static func encode(_ e: Event) -> String {
        var w = JSONObjectWriter()
        w.string("kind", e.kind.rawValue)
        w.uint("time", e.time)
        w.int("pid", Int64(e.pid))
        w.int("tid", Int64(e.tid))
        w.int("ppid", Int64(e.ppid))
        w.hex64("session", e.session.raw)
        if e.root != 0 { w.int("root", Int64(e.root)) }
        w.optString("agent", e.agent)
        w.string("enforcement", e.enforcement.rawValue)
        w.string("comm", e.comm)
        w.optString("exe", e.exe)
        w.int("result", e.result)
        if e.result < 0 && e.result >= -4095 { w.string("error", Errno.name(Int32(-e.result))) } // the kernel's errno range
        w.uint("uid", UInt64(e.uid))
        w.uint("euid", UInt64(e.euid))
        w.uint("gid", UInt64(e.gid))
        w.uint("egid", UInt64(e.egid))
        if e.syscall != 0 { w.int("syscall", Int64(e.syscall)) }
        w.optString("path", e.path)
        w.optString("requested", e.requested)
        w.optString("new_path", e.newPath)
        w.optString("new_requested", e.newRequested)
        if e.pathIncomplete { w.bool("path_incomplete", true) }
        if e.pathUnresolved { w.bool("path_unresolved", true) }
        if e.pathRaced { w.bool("path_raced", true) }
        if e.pathUnverified { w.bool("path_unverified", true) }
        if e.pathDeleted { w.bool("path_deleted", true) }
        if let f = e.flags {
            switch e.kind {
            case .open: w.strings("flags", OpenFlags.names(f))
            case .unshare, .setns: w.strings("flags", NamespaceFlags.names(f))
            default: break
            }
            w.uint("raw_flags", f)
        }
        if let m = e.mode { w.string("mode", String(m, radix: 8)) }
        if let a = e.argv { w.strings("argv", a) }
        if e.argvTruncated { w.bool("argv_truncated", true) }
        w.optString("cwd", e.cwd)
        if let v = e.env { w.strings("env", v) }
        if e.envIncomplete { w.bool("env_incomplete", true) }
        if e.envCut { w.bool("env_cut", true) }
        if let v = e.exeOwner { w.uint("exe_owner", UInt64(v)) }
        if let v = e.exeMode { w.string("exe_mode", String(v, radix: 8)) }
        if e.script { w.bool("script", true) }
        if e.sessionStart { w.bool("session_start", true) }
        if let v = e.exitCode { w.int("exit_code", Int64(v)) }
        if let v = e.signal { w.int("signal", Int64(v)) }
        if let v = e.ids { w.ints("ids", v) }
        w.optString("id_call", e.idCall)
        if let v = e.capEffective { w.uint("cap_effective", v) }
        if let v = e.capPermitted { w.uint("cap_permitted", v) }
        if let v = e.capInheritable { w.uint("cap_inheritable", v) }
        if let v = e.owner { w.int("owner", Int64(Int32(bitPattern: v))) }
        if let v = e.group { w.int("group", Int64(Int32(bitPattern: v))) }
        if let v = e.length { w.int("length", v) }
        if let v = e.dev { w.uint("dev", v) }
        w.optString("link_target", e.linkTarget)
        w.optString("family", e.family?.rawValue)
        w.optString("addr", e.addr)
        if let v = e.port { w.uint("port", UInt64(v)) }
        if let v = e.fd { w.int("fd", Int64(v)) }
        if let v = e.bytes { w.int("bytes", v) }
        if let v = e.request { w.int("request", v) }
        if let v = e.target { w.int("target", Int64(v)) }
        if let v = e.adoptedFrom { w.int("adopted_from", Int64(v)) }
        if let r = e.reached {
            if e.kind == .kill {
                w.optString("target_exe", r.exe)
                if r.comm { w.bool("target_comm", true) }
                w.uint("target_uid", UInt64(r.uid))
            } else {
                w.int("peer", Int64(r.pid))
                w.uint("peer_uid", UInt64(r.uid))
                if r.member { w.bool("peer_member", true) }
                w.optString("deputy", r.deputy)
                if r.activated { w.bool("deputy_activated", true) }
            }
        }
        w.optString("via", e.via)
        w.optString("source", e.source)
        w.optString("fstype", e.fstype)
        w.optString("op", e.op)
        if let v = e.command { w.int("command", v) }
        w.optString("name", e.name)
        w.optString("params", e.params)
        if let v = e.entries { w.uint("entries", UInt64(v)) }
        if let v = e.lost { w.uint("lost", v) }
        if let v = e.socketDomain { w.int("socket_domain", Int64(v)) }
        if let v = e.socketType { w.int("socket_type", Int64(v)) }
        if let v = e.socketProtocol { w.int("socket_protocol", Int64(v)) }
        w.optString("device_type", e.deviceType)
        if let v = e.size { w.int("size", v) }
        if !e.guardActions.isEmpty { w.strings("guard", e.guardActions.names) }
        return w.finish()
    }

    public struct DecodeError: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Decodes one JSON line. `line` is only used in the error.
    public static func decode(_ text: Substring, line: Int = 0) throws -> Event {
        guard let data = text.data(using: .utf8),
              let any = try? JSONSerialization.jsonObject(with: data),
              let o = any as? [String: Any] else {
            throw DecodeError(line: line, message: "not a JSON object")
        }
        func req<T>(_ key: String, _ conv: (Any) -> T?) throws -> T {
            guard let v = o[key] else { throw DecodeError(line: line, message: "missing field \"\(key)\"") }
            guard let t = conv(v) else { throw DecodeError(line: line, message: "field \"\(key)\" has the wrong type or is out of range") }
            return t
        }
        func opt<T>(_ key: String, _ conv: (Any) -> T?) throws -> T? {
            guard let v = o[key], !(v is NSNull) else { return nil }
            guard let t = conv(v) else { throw DecodeError(line: line, message: "field \"\(key)\" has the wrong type or is out of range") }
            return t
        }
        let kindName: String = try req("kind", str)
        guard let kind = EventKind(rawValue: kindName) else {
            throw DecodeError(line: line, message: "unknown kind \"\(kindName)\"")
        }
        let sessionText: String = try req("session", str)
        guard let session = SessionID(sessionText) else {
            throw DecodeError(line: line, message: "session \"\(sessionText)\" is not 16 hex digits")
        }
        var e = Event(kind: kind, time: try req("time", u64), pid: try req("pid", i32),
                      tid: try opt("tid", i32), ppid: try opt("ppid", i32) ?? 0,
                      uid: try opt("uid", u32) ?? 0, euid: try opt("euid", u32),
                      gid: try opt("gid", u32) ?? 0, egid: try opt("egid", u32),
                      session: session, syscall: try opt("syscall", i32) ?? 0,
                      result: try req("result", i64), comm: try opt("comm", str) ?? "")
        e.root = try opt("root", i32) ?? 0
        e.agent = try opt("agent", str)
        if let m: String = try opt("enforcement", str) {
            guard let v = EnforcementMode(rawValue: m) else { throw DecodeError(line: line, message: "enforcement \"\(m)\" is neither monitor nor enforce") }
            e.enforcement = v
        }
        e.exe = try opt("exe", str)
        e.path = try opt("path", str)
        e.requested = try opt("requested", str)
        e.newPath = try opt("new_path", str)
        e.newRequested = try opt("new_requested", str)
        e.pathIncomplete = try opt("path_incomplete", bool) ?? false
        e.pathUnresolved = try opt("path_unresolved", bool) ?? false
        e.pathRaced = try opt("path_raced", bool) ?? false
        e.pathUnverified = try opt("path_unverified", bool) ?? false
        e.pathDeleted = try opt("path_deleted", bool) ?? false
        e.flags = try opt("raw_flags", u64)
        if let m: String = try opt("mode", str) {
            guard let v = UInt32(m, radix: 8) else { throw DecodeError(line: line, message: "mode \"\(m)\" is not octal") }
            e.mode = v
        }
        e.argv = try opt("argv", strs)
        e.argvTruncated = try opt("argv_truncated", bool) ?? false
        e.cwd = try opt("cwd", str)
        e.env = try opt("env", strs)
        e.envIncomplete = try opt("env_incomplete", bool) ?? false
        e.envCut = try opt("env_cut", bool) ?? false
        e.exeOwner = try opt("exe_owner", u32)
        e.script = try opt("script", bool) ?? false
        if let m: String = try opt("exe_mode", str) {
            guard let v = UInt32(m, radix: 8) else { throw DecodeError(line: line, message: "exe_mode \"\(m)\" is not octal") }
            e.exeMode = v
        }
        e.sessionStart = try opt("session_start", bool) ?? false
        e.exitCode = try opt("exit_code", i32)
        e.signal = try opt("signal", i32)
        e.ids = try opt("ids", ints)
        e.idCall = try opt("id_call", str)
        e.capEffective = try opt("cap_effective", u64)
        e.capPermitted = try opt("cap_permitted", u64)
        e.capInheritable = try opt("cap_inheritable", u64)
        e.owner = try opt("owner", i64).map { UInt32(truncatingIfNeeded: $0) }
        e.group = try opt("group", i64).map { UInt32(truncatingIfNeeded: $0) }
        e.length = try opt("length", i64)
        e.dev = try opt("dev", u64)
        e.linkTarget = try opt("link_target", str)
        if let f: String = try opt("family", str) {
            guard let fam = AddressFamily(rawValue: f) else { throw DecodeError(line: line, message: "unknown family \"\(f)\"") }
            e.family = fam
        }
        e.addr = try opt("addr", str)
        e.port = try opt("port", u16)
        e.fd = try opt("fd", i32)
        e.bytes = try opt("bytes", i64)
        e.request = try opt("request", i64)
        e.target = try opt("target", i32)
        e.adoptedFrom = try opt("adopted_from", i32)
        if kind == .kill, let uid = try opt("target_uid", u32) {
            e.reached = Reached(pid: e.target ?? 0, uid: uid, exe: try opt("target_exe", str), comm: try opt("target_comm", bool) ?? false)
        } else if let peer = try opt("peer", i32) {
            e.reached = Reached(pid: peer, uid: try opt("peer_uid", u32) ?? 0, member: try opt("peer_member", bool) ?? false,
                                deputy: try opt("deputy", str), activated: try opt("deputy_activated", bool) ?? false)
        }
        e.via = try opt("via", str)
        e.source = try opt("source", str)
        e.fstype = try opt("fstype", str)
        e.op = try opt("op", str)
        e.command = try opt("command", i64)
        e.name = try opt("name", str)
        e.params = try opt("params", str)
        e.entries = try opt("entries", u32)
        e.lost = try opt("lost", u64)
        e.socketDomain = try opt("socket_domain", i32)
        e.socketType = try opt("socket_type", i32)
        e.socketProtocol = try opt("socket_protocol", i32)
        e.deviceType = try opt("device_type", str)
        e.size = try opt("size", i64)
        if let g: [String] = try opt("guard", strs) {
            guard let v = GuardActions(names: g) else { throw DecodeError(line: line, message: "unknown guard action in \(g)") }
            e.guardActions = v
        }
        return e
    }

    /// Decodes a whole JSON-lines text; blank lines are skipped, the first bad line throws.
    public static func decodeLines(_ text: String) throws -> [Event] {
        var out: [Event] = []
        var n = 0
        // "\r\n" is one Character in Swift: a CRLF file must split as well as an LF one
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            n += 1
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            out.append(try decode(line, line: n))
        }
        return out
    }

    private static func str(_ v: Any) -> String? { v as? String }
    private static func bool(_ v: Any) -> Bool? { v as? Bool }
    private static func strs(_ v: Any) -> [String]? { v as? [String] }
    // Integers only, in range: 1e30, 1.5, true, or -1 for an unsigned field is an error,
    // never a trap. JSONSerialization keeps an integer's own type ("q", "Q", ...); a
    // fraction or an exponent arrives as a double ("d").
    private static func i64(_ v: Any) -> Int64? {
        guard let n = v as? NSNumber else { return nil }
        switch String(cString: n.objCType) {
        case "c": return nil // a JSON boolean
        case "Q", "L", "I", "S", "C": return n.uint64Value <= UInt64(Int64.max) ? n.int64Value : nil
        case "d", "f":
            let d = n.doubleValue
            return d == d.rounded() && d >= -9_223_372_036_854_775_808.0 && d < 9_223_372_036_854_775_808.0 ? n.int64Value : nil
        default: return n.int64Value
        }
    }
    private static func u64(_ v: Any) -> UInt64? {
        guard let n = v as? NSNumber else { return nil }
        switch String(cString: n.objCType) {
        case "c": return nil
        case "Q", "L", "I", "S", "C": return n.uint64Value
        case "d", "f":
            let d = n.doubleValue
            return d == d.rounded() && d >= 0 && d < 18_446_744_073_709_551_616.0 ? n.uint64Value : nil
        default: return n.int64Value >= 0 ? n.uint64Value : nil
        }
    }
    // Narrower integers: a value out of the field's range is an error, never a trap.
    private static func i32(_ v: Any) -> Int32? { i64(v).flatMap { Int32(exactly: $0) } }
    private static func u32(_ v: Any) -> UInt32? { i64(v).flatMap { UInt32(exactly: $0) } }
    private static func u16(_ v: Any) -> UInt16? { i64(v).flatMap { UInt16(exactly: $0) } }
    private static func ints(_ v: Any) -> [Int64]? {
        guard let a = v as? [Any] else { return nil }
        var out: [Int64] = []
        for x in a { guard let n = i64(x) else { return nil }; out.append(n) }
        return out
    }
}

/// Bytes appended without Array's per-append uniqueness and capacity bookkeeping: the
/// JSON writer's storage (the hot path of every event output).
final class JSONBytes {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }
    deinit { base.deallocate() }

    @inline(__always) func reserve(_ extra: Int) {
        if count + extra > capacity { grow(count + extra) }
    }
    private func grow(_ need: Int) {
        var c = capacity * 2
        while c < need { c *= 2 }
        let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        nb.update(from: base, count: count)
        base.deallocate()
        base = nb
        capacity = c
    }
    @inline(__always) func append(_ c: UInt8) {
        reserve(1)
        base[count] = c
        count += 1
    }
    @inline(__always) func append(_ b: UnsafeBufferPointer<UInt8>) {
        guard let src = b.baseAddress, b.count > 0 else { return }
        reserve(b.count)
        (base + count).update(from: src, count: b.count)
        count += b.count
    }
    /// Lets `body` write up to `max` bytes at the end in place; it returns how many it wrote.
    @inline(__always) func write(_ max: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        reserve(max)
        count += body(base + count)
    }
    var buffer: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }
}

/// A minimal JSON object writer: keys are trusted literals, values are escaped. Writes
/// UTF-8 bytes into one buffer (the hot path of every event output).
public struct JSONObjectWriter {
    private let b: JSONBytes
    private var first = true
    public init(capacity: Int = 512) {
        b = JSONBytes(capacity: capacity)
        b.append(UInt8(ascii: "{"))
    }

    /// `,"key":` (no comma before the first), written in place: keys are literals.
    private mutating func key(_ k: StaticString) {
        let comma = first ? 0 : 1
        first = false
        let n = k.utf8CodeUnitCount, start = k.utf8Start
        b.write(n + 4) { p in
            p[0] = UInt8(ascii: ",")
            p[comma] = UInt8(ascii: "\"")
            (p + comma + 1).update(from: start, count: n)
            p[comma + 1 + n] = UInt8(ascii: "\"")
            p[comma + 2 + n] = UInt8(ascii: ":")
            return comma + n + 3
        }
    }
    /// Decimal digits written in place, most significant first.
    private func number<T: BinaryInteger>(_ v: T) {
        b.write(21) { p in
            var x = UInt64(v.magnitude)
            let sign = v < 0 ? 1 : 0
            p[0] = UInt8(ascii: "-")
            var digits = 1
            var t = x
            while t >= 10 { t /= 10; digits += 1 }
            var q = p + sign + digits
            repeat {
                q -= 1
                q.pointee = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: x % 10)
                x /= 10
            } while x > 0
            return sign + digits
        }
    }
    public mutating func string(_ k: StaticString, _ v: String) { key(k); JSONObjectWriter.appendEscaped(v, to: b) }
    public mutating func optString(_ k: StaticString, _ v: String?) { if let v { string(k, v) } }
    /// A key that is data (an alert detail's name), not a literal: escaped like a value.
    public mutating func string(dataKey k: String, _ v: String) {
        if !first { b.append(UInt8(ascii: ",")) }
        first = false
        JSONObjectWriter.appendEscaped(k, to: b)
        b.append(UInt8(ascii: ":"))
        JSONObjectWriter.appendEscaped(v, to: b)
    }
    public mutating func int(_ k: StaticString, _ v: Int64) { key(k); number(v) }
    public mutating func uint(_ k: StaticString, _ v: UInt64) { key(k); number(v) }
    /// A 64-bit value as 16 lowercase hex digits, quoted (session ids).
    public mutating func hex64(_ k: StaticString, _ v: UInt64) {
        key(k)
        b.write(18) { p in
            p[0] = UInt8(ascii: "\"")
            for i in 0..<16 { p[1 + i] = JSONObjectWriter.hex[Int((v >> UInt64(60 - 4 * i)) & 0xf)] }
            p[17] = UInt8(ascii: "\"")
            return 18
        }
    }
    public mutating func bool(_ k: StaticString, _ v: Bool) {
        key(k)
        let t: StaticString = v ? "true" : "false"
        t.withUTF8Buffer { b.append($0) }
    }
    /// A value that is already JSON.
    public mutating func raw(_ k: StaticString, _ json: String) {
        key(k)
        var j = json
        j.withUTF8 { b.append($0) }
    }
    public mutating func strings(_ k: StaticString, _ v: [String]) {
        key(k)
        b.append(UInt8(ascii: "["))
        for (i, x) in v.enumerated() {
            if i > 0 { b.append(UInt8(ascii: ",")) }
            JSONObjectWriter.appendEscaped(x, to: b)
        }
        b.append(UInt8(ascii: "]"))
    }
    public mutating func ints(_ k: StaticString, _ v: [Int64]) {
        key(k)
        b.append(UInt8(ascii: "["))
        for (i, x) in v.enumerated() {
            if i > 0 { b.append(UInt8(ascii: ",")) }
            number(x)
        }
        b.append(UInt8(ascii: "]"))
    }
    public mutating func finish() -> String {
        b.append(UInt8(ascii: "}"))
        return String(decoding: b.buffer, as: UTF8.self)
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Whether any of the eight bytes of `w` may be a control, a quote or a backslash. The
    /// byte tests have no false negatives; a false positive costs only a byte-by-byte look.
    @inline(__always) private static func mayNeedEscape(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func hasZero(_ v: UInt64) -> Bool { (v &- ones) & ~v & highs != 0 }
        let control = (w &- ones &* 0x20) & ~w & highs != 0
        return control || hasZero(w ^ (ones &* 0x22)) || hasZero(w ^ (ones &* 0x5c))
    }

    /// Appends `v` as a JSON string; bytes that are not valid UTF-8 were already replaced
    /// when the String was made, so only quotes, backslashes and controls need escaping.
    static func appendEscaped(_ v: String, to b: JSONBytes) {
        var s = v
        s.withUTF8 { u in
            b.reserve(u.count + 2)
            b.append(UInt8(ascii: "\""))
            var start = 0
            var i = 0
            while i < u.count {
                // eight bytes at a time while none of them needs escaping
                if i + 8 <= u.count, !mayNeedEscape(UnsafeRawPointer(u.baseAddress! + i).loadUnaligned(as: UInt64.self)) {
                    i += 8
                    continue
                }
                let c = u[i]
                i += 1
                guard c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") else { continue }
                let at = i - 1
                if start < at { b.append(UnsafeBufferPointer(rebasing: u[start..<at])) }
                b.append(UInt8(ascii: "\\"))
                switch c {
                case UInt8(ascii: "\""): b.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): b.append(UInt8(ascii: "\\"))
                case 0x0a: b.append(UInt8(ascii: "n"))
                case 0x0d: b.append(UInt8(ascii: "r"))
                case 0x09: b.append(UInt8(ascii: "t"))
                default:
                    for x in [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(c >> 4)], hex[Int(c & 0xf)]] { b.append(x) }
                }
                start = i
            }
            if start < u.count { b.append(UnsafeBufferPointer(rebasing: u[start..<u.count])) }
            b.append(UInt8(ascii: "\""))
        }
    }
}

/// errno names for messages and JSON (Linux numbering).
public enum Errno {
    private static let names: [Int32: String] = [
        1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 9: "EBADF", 11: "EAGAIN",
        12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 16: "EBUSY", 17: "EEXIST", 18: "EXDEV",
        20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 24: "EMFILE", 28: "ENOSPC", 30: "EROFS",
        36: "ENAMETOOLONG", 38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP", 95: "EOPNOTSUPP",
        97: "EAFNOSUPPORT", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL", 101: "ENETUNREACH",
        110: "ETIMEDOUT", 111: "ECONNREFUSED", 113: "EHOSTUNREACH", 115: "EINPROGRESS",
    ]
    public static func name(_ code: Int32) -> String { names[code] ?? "E\(code)" }
}
