import Foundation
import Yams

/// One problem in a policy file, at the line and column of the node that is wrong.
public struct PolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        // one error, one line that starts with its place: a value quoted in the message (a
        // scalar that spans lines) keeps its line breaks and control bytes escaped
        self.message = message.contains(where: { $0.asciiValue.map { $0 < 0x20 } ?? ($0 == "\u{2028}" || $0 == "\u{2029}") })
            ? String(message.unicodeScalars.map { s -> String in
                switch s {
                case "\n": return "\\n"
                case "\r": return "\\r"
                case "\t": return "\\t"
                default: return s.value < 0x20 || s == "\u{2028}" || s == "\u{2029}" ? String(format: "\\u{%x}", s.value) : String(s)
                }
            }.joined())
            : message
    }
    public var description: String { line > 0 ? "\(file):\(line):\(column): \(message)" : "\(file): \(message)" }
}

/// Every problem found in a policy file. Nothing of a policy with errors is used.
public struct PolicyLoadError: Error, Sendable, CustomStringConvertible {
    public var errors: [PolicyError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }

    /// The first few errors, for one alert or one log line (`tether check-policy` shows all).
    public func summary(first n: Int = 5) -> String {
        let shown = errors.prefix(n).map(\.description).joined(separator: "; ")
        return errors.count > n ? shown + "; and \(errors.count - n) more (tether check-policy shows them all)" : shown
    }
}

extension Policy {
    /// Reads and validates a policy file. Throws `PolicyLoadError` (all errors, with
    /// file:line:column) or `PolicyLoadError` with line 0 when the file cannot be read.
    public static func load(path: String) throws -> Policy {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch let why as TextFile.ReadFailure {
            throw PolicyLoadError(errors: [PolicyError(file: path, line: why.line, column: why.column, message: "cannot read the policy: \(why.reason)")])
        }
        return try parse(text, file: path)
    }

    /// Parses policy text; `file` only names the source in errors.
    public static func parse(_ text: String, file: String) throws -> Policy {
        if let bad = PolicyLimits.check(text) {
            throw PolicyLoadError(errors: [PolicyError(file: file, line: bad.line, column: bad.column, message: bad.message)])
        }
        var loader = PolicyLoader(file: file, text: text)
        let policy = loader.load()
        if !loader.errors.isEmpty {
            // File order reads best; the walk finds them grouped by section.
            var sorted = loader.errors.enumerated().sorted { a, b in
                (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
            }.map(\.element)
            if sorted.count > PolicyLimits.maxErrors {
                let more = sorted.count - PolicyLimits.maxErrors
                sorted = Array(sorted.prefix(PolicyLimits.maxErrors))
                sorted.append(PolicyError(file: file, line: 0, column: 0, message: "\(more) more error(s) not shown"))
            }
            throw PolicyLoadError(errors: sorted)
        }
        guard var p = policy else {
            throw PolicyLoadError(errors: [PolicyError(file: file, line: 1, column: 1, message: "policy could not be loaded")])
        }
        p.source = file
        return p
    }
}

/// Whole files as UTF-8 text, with the C library's reason when they cannot be read.
public enum TextFile {
    public struct ReadFailure: Error, CustomStringConvertible {
        /// "No such file or directory", "Permission denied", "not UTF-8 text".
        public var reason: String
        /// Where the text stops being UTF-8 (0: not about a place in the text).
        public var line = 0
        public var column = 0
        public var description: String { line > 0 ? "line \(line), column \(column): \(reason)" : reason }
    }

    /// Line and column (1-based, in bytes) of the first byte that is not UTF-8, if any.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> (line: Int, column: Int)? {
        var parser = Unicode.UTF8.ForwardParser()
        var it = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &it) {
            case .valid(let s): offset += s.count
            case .emptyInput: return nil
            case .error:
                let before = bytes[..<offset]
                let line = before.filter { $0 == UInt8(ascii: "\n") }.count + 1
                let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
                return (line, offset - lineStart + 1)
            }
        }
    }

    public static func read(_ path: String) throws -> String {
        guard let f = fopen(path, "r") else { throw ReadFailure(reason: String(cString: strerror(errno))) }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n > 0 { bytes.append(contentsOf: chunk[..<n]) }
            if n < chunk.count {
                if ferror(f) != 0 { throw ReadFailure(reason: String(cString: strerror(errno))) }
                break
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let at = firstInvalidUTF8(bytes)
            throw ReadFailure(reason: "not UTF-8 text", line: at?.line ?? 0, column: at?.column ?? 0)
        }
        return text
    }
}

/// Walks the composed YAML tree (Yams' Node API keeps a mark on every node) and collects
/// every error instead of stopping at the first, so `check-policy` shows them all.
struct PolicyLoader {
    let file: String
    let text: String
    var errors: [PolicyError] = []

    init(file: String, text: String) {
        self.file = file
        self.text = text
    }

    // MARK: - Document

    mutating func load() -> Policy? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            report(yamlError: e)
            return nil
        } catch {
            errors.append(PolicyError(file: file, line: 1, column: 1, message: "\(error)"))
            return nil
        }
        guard let root else {
            errors.append(PolicyError(file: file, line: 1, column: 1, message: "the policy is empty (write at least 'version: 1')"))
            return nil
        }
        guard let top = fields(root, in: "the policy", allowed: ["version", "defaults", "agents", "deputies"]) else { return nil }

        var version = 1
        if let v = top["version"] {
            if let n = int(v.value, "version") {
                if n != 1 { fail(v.value, "unsupported policy version \(n); this Tether reads version 1") }
                version = n
            }
        }
        // No version: version 1 (the only one so far); a later format will require its number.

        var defaults = Policy.builtinDefaults
        if let d = top["defaults"] {
            defaults = agent(d.value, base: Policy.builtinDefaults, isDefaults: true) ?? defaults
        }

        var agents: [AgentPolicy] = []
        var locations: [String: String] = [:]
        if let a = top["agents"] {
            if let list = sequence(a.value, "agents") {
                var names: [String: Node] = [:]
                for item in list {
                    guard let ag = agent(item, base: defaults, isDefaults: false) else { continue }
                    if names[ag.name] != nil {
                        fail(item, "agent name '\(ag.name)' is used twice (first at \(pos(names[ag.name]!)))")
                    } else {
                        names[ag.name] = item
                    }
                    agents.append(ag)
                }
                // The kernel numbers agents in a fixed table (slot 0 is the defaults).
                if agents.count >= AgentSlots.capacity {
                    fail(a.value, "\(agents.count) agents; the kernel has room for \(AgentSlots.capacity - 1)")
                }
                locations = names.mapValues { "\($0.mark?.line ?? 0):\($0.mark?.column ?? 0)" }
            }
        }
        var deputies: [Deputy] = []
        if let d = top["deputies"] {
            for node in sequence(d.value, "deputies") ?? [] {
                guard let deputy = deputy(node) else { continue }
                if deputies.count >= Deputies.policyLimit {
                    fail(node, "more than \(Deputies.policyLimit) deputies")
                } else {
                    deputies.append(deputy)
                }
            }
        }
        var p = Policy(version: version, defaults: defaults, agents: agents, source: file)
        p.agentLocations = locations
        p.deputies = deputies
        return p
    }

    // MARK: - Agents

    mutating func agent(_ node: Node, base: AgentPolicy, isDefaults: Bool) -> AgentPolicy? {
        let allowed = isDefaults
            ? ["mode", "workspace", "boundary", "grace_period", "term_grace", "confine", "tell_agent", "rules"]
            : ["name", "match", "mode", "workspace", "boundary", "grace_period", "term_grace", "confine", "tell_agent", "rules"]
        let what = isDefaults ? "defaults" : "an agent"
        guard let f = fields(node, in: what, allowed: allowed) else { return nil }
        var a = base
        a.match = AgentMatch()
        if isDefaults {
            a.name = "default"
        } else {
            guard let n = f["name"] else {
                fail(node, "agent has no 'name'")
                return nil
            }
            guard let name = string(n.value, "name") else { return nil }
            if name.isEmpty { fail(n.value, "agent name is empty") }
            if name == "default" { fail(n.value, "agent name 'default' is reserved for the 'defaults' section") }
            if name.utf8.count > AgentSlots.nameLimit { fail(n.value, "agent name is \(name.utf8.count) bytes; the kernel keeps at most \(AgentSlots.nameLimit)") }
            a.name = name
            if let m = f["match"] {
                a.match = match(m.value, agent: name)
            } else {
                fail(node, "agent '\(name)' has no 'match': say which processes start its sessions (exe, comm, uid, cgroup)")
            }
        }
        if let m = f["mode"], let s = string(m.value, "mode") {
            if let mode = EnforcementMode(rawValue: s) { a.mode = mode } else { fail(m.value, "mode must be 'monitor' or 'enforce', not '\(s)'") }
        }
        if let g = f["grace_period"], let secs = duration(g.value, "grace_period") { a.gracePeriod = secs }
        if let g = f["term_grace"], let secs = duration(g.value, "term_grace") { a.termGrace = secs }
        // Lists of an agent add to the defaults' lists; in `defaults` they replace the built-in ones.
        if let w = f["workspace"] {
            let roots = self.roots(w.value, "workspace")
            a.boundary.workspace = isDefaults ? roots : base.boundary.workspace + roots
        }
        if let b = f["boundary"] { a.boundary = boundary(b.value, base: a.boundary, replace: isDefaults) }
        if let c = f["confine"] { a.confine = confine(c.value, base: a.confine) }
        if let t = f["tell_agent"], let v = bool(t.value, "tell_agent") { a.tellAgent = v }
        if let r = f["rules"] {
            let entries = rules(r.value)
            a.rules = isDefaults ? entries : base.rules + entries
        }
        return a
    }

    mutating func match(_ node: Node, agent: String) -> AgentMatch {
        guard let f = fields(node, in: "match", allowed: ["exe", "comm", "uid", "cgroup"]) else { return AgentMatch() }
        let errorsBefore = errors.count
        var m = AgentMatch()
        if let e = f["exe"] {
            for (s, n) in stringList(e.value, "exe") {
                guard s.hasPrefix("/") else { fail(n, "exe '\(s)' must be an absolute path or glob"); continue }
                if let g = glob(s, n) { m.exeGlobs.append(g) }
            }
        }
        if let c = f["comm"] {
            for (s, n) in stringList(c.value, "comm") {
                if s.isEmpty { fail(n, "comm is empty"); continue }
                // The kernel keeps 15 bytes of the name: a longer one would never match.
                if s.utf8.count > 15 { fail(n, "comm '\(s)' is \(s.utf8.count) bytes; the kernel's command name has at most 15"); continue }
                m.comm.append(s)
            }
        }
        if let u = f["uid"], let list = sequence(u.value, "uid") {
            for n in list {
                guard let v = int(n, "uid") else { continue }
                guard v >= 0, v <= Int(UInt32.max) else { fail(n, "uid \(v) is out of range"); continue }
                m.uid.append(UInt32(v))
            }
        }
        if let c = f["cgroup"] {
            for (s, n) in stringList(c.value, "cgroup") {
                guard s.hasPrefix("/") else { fail(n, "cgroup '\(s)' must be a cgroup v2 path starting with '/' (as in /proc/PID/cgroup)"); continue }
                if let g = glob(s, n) { m.cgroupGlobs.append(g) }
            }
        }
        if m.isEmpty, errors.count == errorsBefore { fail(node, "agent '\(agent)' match is empty: it would select nothing") }
        return m
    }

    mutating func confine(_ node: Node, base: ConfinementPolicy) -> ConfinementPolicy {
        var c = base
        guard let f = fields(node, in: "confine", allowed: ["landlock", "seccomp", "refuse_truncate", "scope_signals", "scope_abstract_unix", "refuse_syscalls", "allow_syscalls"]) else { return c }
        if let v = f["landlock"], let b = bool(v.value, "landlock") { c.landlock = b }
        if let v = f["seccomp"], let b = bool(v.value, "seccomp") { c.seccomp = b }
        if let v = f["refuse_truncate"], let b = bool(v.value, "refuse_truncate") { c.refuseTruncate = b }
        if let v = f["scope_signals"], let b = bool(v.value, "scope_signals") { c.scopeSignals = b }
        if let v = f["scope_abstract_unix"], let b = bool(v.value, "scope_abstract_unix") { c.scopeAbstractUnix = b }
        // refuse_syscalls replaces the list; allow_syscalls takes names out of it.
        func names(_ key: String) -> [String] {
            guard let v = f[key] else { return [] }
            var out: [String] = []
            for (s, n) in stringList(v.value, key) {
                if ConfinementPolicy.refusable.contains(s) { out.append(s) } else {
                    fail(n, "\(key): '\(s)' is not a syscall Tether can refuse (one of: \(ConfinementPolicy.refusable.joined(separator: ", ")))")
                }
            }
            return out
        }
        if f["refuse_syscalls"] != nil { c.refusedSyscalls = names("refuse_syscalls") }
        let allowed = names("allow_syscalls")
        c.refusedSyscalls.removeAll { allowed.contains($0) }
        return c
    }

    mutating func boundary(_ node: Node, base: Boundary, replace: Bool) -> Boundary {
        var b = base
        guard let f = fields(node, in: "boundary", allowed: ["read_only", "writable", "network"]) else { return b }
        if let r = f["read_only"] {
            let v = roots(r.value, "read_only")
            b.readOnly = replace ? v : base.readOnly + v
        }
        if let w = f["writable"] {
            let v = roots(w.value, "writable")
            b.writable = replace ? v : base.writable + v
        }
        if let n = f["network"] { b.network = network(n.value, base: base.network, replace: replace) }
        return b
    }

    mutating func network(_ node: Node, base: NetworkPolicy, replace: Bool) -> NetworkPolicy {
        var p = base
        guard let f = fields(node, in: "network", allowed: ["allow_loopback", "allow"]) else { return p }
        if let l = f["allow_loopback"], let v = bool(l.value, "allow_loopback") { p.allowLoopback = v }
        if let a = f["allow"], let list = sequence(a.value, "allow") {
            var entries: [NetworkAllow] = []
            for item in list {
                if item.scalar != nil {
                    // Shorthand: a bare CIDR allows every port.
                    if let s = string(item, "allow entry"), let c = cidr(s, item) { entries.append(NetworkAllow(cidrs: [c])) }
                    continue
                }
                guard let e = fields(item, in: "an allow entry", allowed: ["cidr", "ports"]) else { continue }
                var cidrs: [CIDR] = []
                if let c = e["cidr"] {
                    if c.value.scalar != nil {
                        if let s = string(c.value, "cidr"), let v = cidr(s, c.value) { cidrs.append(v) }
                    } else {
                        for (s, n) in stringList(c.value, "cidr") { if let v = cidr(s, n) { cidrs.append(v) } }
                    }
                } else {
                    fail(item, "allow entry has no 'cidr' (use 0.0.0.0/0 and ::/0 for any address)")
                }
                var ports: [PortRange] = []
                if let ps = e["ports"], let list = sequence(ps.value, "ports") {
                    for pn in list { if let r = portRange(pn) { ports.append(r) } }
                    if list.isEmpty { fail(ps.value, "ports is empty; leave it out to allow every port") }
                }
                entries.append(NetworkAllow(cidrs: cidrs, ports: ports))
            }
            p.allow = replace ? entries : base.allow + entries
        }
        return p
    }

    mutating func rules(_ node: Node) -> [RuleSettings] {
        guard let map = node.mapping else {
            fail(node, "rules must be a mapping of rule id to settings, e.g. 'persist.cron: {action: kill}'")
            return []
        }
        var out: [RuleSettings] = []
        var seen: [String: Node] = [:]
        for (k, v) in map {
            guard let key = string(k, "rule id") else { continue }
            if let first = seen[key] { fail(k, "rule '\(key)' appears twice (first at \(pos(first)))"); continue }
            seen[key] = k
            let keyGlob: Glob
            do { keyGlob = try Glob(key) } catch { fail(k, "bad rule pattern '\(key)'"); continue }
            if !RuleCatalog.all.contains(where: { keyGlob.matches($0.id) }) {
                let hint = closest(key, RuleCatalog.all.map(\.id)).map { " (did you mean '\($0)'?)" } ?? ""
                fail(k, "unknown rule '\(key)'\(hint)")
                continue
            }
            guard let f = fields(v, in: "rule '\(key)'", allowed: ["enabled", "severity", "action", "ignore_exe", "ignore_paths"]) else { continue }
            var s = RuleSettings(key: key)
            if let e = f["enabled"] { s.enabled = bool(e.value, "enabled") }
            if let e = f["severity"], let t = string(e.value, "severity") {
                if let sev = Severity(rawValue: t) { s.severity = sev } else { fail(e.value, "severity must be low, medium, high or critical, not '\(t)'") }
            }
            if let e = f["action"], let t = string(e.value, "action") {
                if let act = Action(rawValue: t) { s.action = act } else { fail(e.value, "action must be alert, stop, term or kill, not '\(t)'") }
            }
            if let e = f["ignore_exe"] {
                for (t, n) in stringList(e.value, "ignore_exe") {
                    guard t.hasPrefix("/") || t.hasPrefix("*") else { fail(n, "ignore_exe '\(t)' must be an absolute path or glob"); continue }
                    if let g = glob(t, n) { s.ignoreExe.append(g) }
                }
            }
            if let e = f["ignore_paths"] {
                for (t, n) in stringList(e.value, "ignore_paths") {
                    guard t.hasPrefix("/") || t.hasPrefix("~/") || t.hasPrefix("*") else { fail(n, "ignore_paths '\(t)' must be an absolute path or glob"); continue }
                    if let g = glob(t, n) { s.ignorePaths.append(g) }
                }
            }
            out.append(s)
        }
        return out
    }

    // MARK: - Values

    /// Absolute roots, `~/...` (the session user's home) or `$UID` inside; globs allowed.
    mutating func roots(_ node: Node, _ what: String) -> [String] {
        var out: [String] = []
        for (s, n) in stringList(node, what) {
            guard s.hasPrefix("/") || s == "~" || s.hasPrefix("~/") else {
                fail(n, "\(what) root '\(s)' must be absolute or start with '~/'")
                continue
            }
            if s.contains("/../") || s.hasSuffix("/..") { fail(n, "\(what) root '\(s)' must not contain '..'"); continue }
            if s == "/" { fail(n, "\(what) root '/' would cover the whole host"); continue }
            guard glob(s, n) != nil else { continue }
            out.append(s.count > 1 && s.hasSuffix("/") ? String(s.dropLast()) : s)
        }
        return out
    }

    mutating func cidr(_ s: String, _ node: Node) -> CIDR? {
        do { return try CIDR(s) } catch let e as CIDR.SyntaxError { fail(node, e.message) } catch { fail(node, "\(error)") }
        return nil
    }

    mutating func portRange(_ node: Node) -> PortRange? {
        guard let sc = node.scalar else { fail(node, "a port must be a number or a range like 8000-8100"); return nil }
        let parts = sc.string.split(separator: "-", omittingEmptySubsequences: false)
        let nums = parts.map { UInt16($0.trimmingCharacters(in: .whitespaces)) }
        guard sc.style == .plain || sc.style == .singleQuoted || sc.style == .doubleQuoted,
              (1...2).contains(parts.count), nums.allSatisfy({ $0 != nil }) else {
            fail(node, "'\(sc.string)' is not a port (0-65535) or a range like 8000-8100")
            return nil
        }
        let lo = nums[0]!, hi = nums.count == 2 ? nums[1]! : nums[0]!
        guard lo <= hi else { fail(node, "port range \(lo)-\(hi) is backwards"); return nil }
        return PortRange(lo, hi)
    }

    mutating func duration(_ node: Node, _ what: String) -> Double? {
        guard let sc = node.scalar, sc.style == .plain || sc.style == .singleQuoted || sc.style == .doubleQuoted else {
            fail(node, "\(what) must be seconds (a number) or a duration like 30s, 5m, 1h")
            return nil
        }
        var s = Substring(sc.string)
        var unit = 1.0
        for (suffix, mult) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)] where s.hasSuffix(suffix) {
            unit = mult
            s = s.dropLast(suffix.count)
            break
        }
        guard let v = Double(s), v.isFinite, v >= 0 else {
            fail(node, "\(what) '\(sc.string)' is not a duration (seconds, or like 30s, 5m, 1h)")
            return nil
        }
        guard v * unit <= PolicyLimits.maxSeconds else {
            fail(node, "\(what) '\(sc.string)' is longer than \(Int(PolicyLimits.maxSeconds)) s (7 days), the longest Tether waits")
            return nil
        }
        return v * unit
    }

    mutating func glob(_ s: String, _ node: Node) -> Glob? {
        do { return try Glob(s) } catch let e as Glob.SyntaxError {
            fail(node, "bad glob '\(s)': \(e.message) at character \(e.offset + 1)")
        } catch { fail(node, "\(error)") }
        return nil
    }

    /// A mapping with known keys. Unknown and duplicate keys are errors at the key.
    mutating func fields(_ node: Node, in what: String, allowed: [String]) -> [String: (key: Node, value: Node)]? {
        guard let map = node.mapping else {
            fail(node, "\(what) must be a mapping (key: value), not \(kind(node))")
            return nil
        }
        var out: [String: (key: Node, value: Node)] = [:]
        for (k, v) in map {
            guard let key = k.scalar?.string else { fail(k, "keys in \(what) must be plain names"); continue }
            guard allowed.contains(key) else {
                let hint = closest(key, allowed).map { " (did you mean '\($0)'?)" } ?? ""
                fail(k, "unknown key '\(key)' in \(what)\(hint); known keys: \(allowed.joined(separator: ", "))")
                continue
            }
            if let first = out[key] { fail(k, "key '\(key)' appears twice in \(what) (first at \(pos(first.key)))"); continue }
            out[key] = (k, v)
        }
        return out
    }

    /// A `deputies:` entry: an executable's absolute path, or `{interpreter: PATH, script: PATH}`.
    mutating func deputy(_ node: Node) -> Deputy? {
        func absolute(_ n: Node, _ what: String) -> String? {
            guard let path = string(n, what) else { return nil }
            guard path.hasPrefix("/") else { fail(n, "\(what) is an absolute path, not '\(path)'"); return nil }
            return Paths.normalize(path)
        }
        if node.mapping == nil { return absolute(node, "a deputy's executable").map { Deputy($0) } }
        guard let f = fields(node, in: "a deputy", allowed: ["interpreter", "script"]) else { return nil }
        guard let i = f["interpreter"], let s = f["script"] else {
            fail(node, "a deputy run by an interpreter names both its interpreter and its script")
            return nil
        }
        guard let interpreter = absolute(i.value, "a deputy's interpreter"), let script = absolute(s.value, "a deputy's script") else { return nil }
        return Deputy(interpreter, script: script)
    }

    mutating func sequence(_ node: Node, _ what: String) -> [Node]? {
        guard case .sequence(let s) = node else {
            fail(node, "\(what) must be a list, not \(kind(node))")
            return nil
        }
        return Array(s)
    }

    mutating func stringList(_ node: Node, _ what: String) -> [(String, Node)] {
        guard let list = sequence(node, what) else { return [] }
        var out: [(String, Node)] = []
        for n in list { if let s = string(n, what) { out.append((s, n)) } }
        return out
    }

    mutating func string(_ node: Node, _ what: String) -> String? {
        guard let sc = node.scalar else { fail(node, "\(what) must be a string, not \(kind(node))"); return nil }
        if sc.style == .plain, isNull(sc.string) { fail(node, "\(what) is empty"); return nil }
        return sc.string
    }

    mutating func int(_ node: Node, _ what: String) -> Int? {
        guard let sc = node.scalar, sc.style == .plain, let v = Int(sc.string) else {
            fail(node, "\(what) must be an integer, not \(kind(node))")
            return nil
        }
        return v
    }

    mutating func bool(_ node: Node, _ what: String) -> Bool? {
        if let sc = node.scalar, sc.style == .plain {
            switch sc.string { case "true", "True", "TRUE": return true; case "false", "False", "FALSE": return false; default: break }
        }
        fail(node, "\(what) must be true or false, not \(kind(node))")
        return nil
    }

    private func isNull(_ s: String) -> Bool { s.isEmpty || s == "~" || s == "null" || s == "Null" || s == "NULL" }

    private func kind(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let s):
            if s.style == .plain, isNull(s.string) { return "an empty value" }
            return "'\(s.string)'"
        }
    }

    // MARK: - Errors

    mutating func fail(_ node: Node, _ message: String) {
        let m = node.mark
        errors.append(PolicyError(file: file, line: m?.line ?? 0, column: m?.column ?? 0, message: message))
    }

    private func pos(_ node: Node) -> String {
        guard let m = node.mark else { return "?" }
        return "\(m.line):\(m.column)"
    }

    mutating func report(yamlError e: YamlError) {
        switch e {
        case .scanner(let ctx, let problem, let mark, _), .parser(let ctx, let problem, let mark, _), .composer(let ctx, let problem, let mark, _):
            let context = ctx.map { " (\($0.text) at \($0.mark.line):\($0.mark.column))" } ?? ""
            errors.append(PolicyError(file: file, line: mark.line, column: mark.column, message: "YAML syntax: \(problem)\(context)"))
        case .reader(let problem, let offset, _, _):
            var line = 1, col = 1
            if let offset {
                for ch in text.prefix(offset) { if ch == "\n" { line += 1; col = 1 } else { col += 1 } }
            }
            errors.append(PolicyError(file: file, line: line, column: col, message: "cannot read YAML: \(problem)"))
        default:
            errors.append(PolicyError(file: file, line: 1, column: 1, message: "YAML: \(e)"))
        }
    }

    /// The candidate nearest to `s` by edit distance, if it is near enough to be a typo.
    private func closest(_ s: String, _ candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var prev = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var cur = [i] + Array(repeating: 0, count: b.count)
                for j in stride(from: 1, through: b.count, by: 1) {
                    cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                prev = cur
            }
            return a.isEmpty ? b.count : prev[b.count]
        }
        let a = Array(s)
        let best = candidates.map { ($0, distance(a, Array($0))) }.min { $0.1 < $1.1 }
        guard let best, best.1 <= max(2, s.count / 4) else { return nil }
        return best.0
    }
}
