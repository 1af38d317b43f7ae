import Foundation

/// One ledger entry an attribution or a report names: what happened, who, when.
public struct Effect: Sendable, Equatable, Codable {
    public var seq: Int
    /// The entry's type: exec, file, net, priv, finding.
    public var type: String
    public var text: String
    public var pid: Int32
    public var time: String
    public var bootNs: UInt64
    /// The kernel refused it (its error, or a cgroup hook's refusal, as the entry records them).
    public var refused: Bool = false
    /// The errno name the syscall failed with (nil: it succeeded).
    public var error: String? = nil
}

/// Every process subtree and effect of a session matched to the tool call that caused it
/// (see README, "Cross-checking the agent's record", for the rules and their limits).
public struct Attribution: Sendable, Equatable, Codable {
    public struct Call: Sendable, Equatable, Codable {
        public var index: Int
        public var tool: String
        public var command: String?
        public var file: String?
        /// The shell the kernel saw run the command (nil: no process matched it).
        public var pid: Int32?
        /// Processes in its subtree.
        public var processes: Int = 0
        /// Its effects outside the workspace (files, network, privileged operations, findings).
        public var outside: [Effect] = []
        /// Effects of its subtree after its shell had exited (the tool call had returned).
        public var afterReturn: [Effect] = []
    }
    public var calls: [Call] = []
    /// Commands the kernel saw that no tool call accounts for.
    public var unaccountedCommands: [Effect] = []
    /// Effects outside the workspace no tool call accounts for.
    public var unaccountedEffects: [Effect] = []
    /// Effects outside the workspace of the agent framework's own processes (not a tool call's).
    public var framework: [Effect] = []
    /// Tool calls with no process the kernel saw (the record claims a command that did not run as given).
    public var unmatched: [Int] { calls.filter { $0.pid == nil && $0.file == nil }.map(\.index) }

    /// File tools (edit, write) are matched by path to the framework's own writes within
    /// their time window, widened by this much on each side (the record's clock and the
    /// kernel's are read apart).
    static let fileWindow: TimeInterval = 1

    public static func attribute(_ calls: [ToolCall], ledger: LedgerView) -> Attribution {
        var out = Attribution()
        var shellOf: [Int32: Int] = [:] // shell pid -> index into out.calls
        var next = 0 // matches go forward through the execs, in order
        for c in calls {
            var call = Call(index: c.index, tool: c.tool, command: c.command, file: c.file)
            if let cmd = c.command {
                let match = ledger.execs[next...].firstIndex { e in
                    shellOf[e.pid] == nil && e.argv.count >= 3 && e.argv.contains("-c")
                        && (e.argv.last == cmd || e.argv.joined(separator: " ").contains(cmd))
                }
                if let i = match {
                    call.pid = ledger.execs[i].pid
                    shellOf[ledger.execs[i].pid] = out.calls.count
                    next = i + 1
                }
            }
            out.calls.append(call)
        }
        // every pid's call: its own shell's, else its nearest ancestor's
        var callOf: [Int32: Int] = [:]
        func owner(_ pid: Int32) -> Int? {
            if let c = callOf[pid] { return c }
            var p = pid, seen = Set<Int32>()
            while seen.insert(p).inserted {
                if let c = shellOf[p] { callOf[pid] = c; return c }
                guard let parent = ledger.parent[p] else { return nil }
                p = parent
            }
            return nil
        }
        // the framework: the root and every ancestor of a matched shell
        var framework: Set<Int32> = [ledger.root]
        for shell in shellOf.keys {
            var p = shell, seen = Set<Int32>()
            while let parent = ledger.parent[p], seen.insert(parent).inserted { framework.insert(parent); p = parent }
        }
        for pid in ledger.pids { if let c = owner(pid) { out.calls[c].processes += 1 } }

        for e in ledger.execs where owner(e.pid) == nil && !framework.contains(e.pid) {
            out.unaccountedCommands.append(e.effect)
        }
        for e in ledger.effects {
            if let c = owner(e.pid) {
                if e.type != "exec" { out.calls[c].outside.append(e) }
                if let pid = out.calls[c].pid, let exit = ledger.exitTime[pid], e.bootNs > exit { out.calls[c].afterReturn.append(e) }
            } else if framework.contains(e.pid) {
                if e.type == "exec" { continue }
                if let c = fileCall(e, calls: calls, ledger: ledger) { out.calls[c].outside.append(e) } else { out.framework.append(e) }
            } else if e.type != "exec" {
                out.unaccountedEffects.append(e)
            }
        }
        return out
    }

    /// The file tool call whose path and time window take the framework's own file effect.
    static func fileCall(_ e: Effect, calls: [ToolCall], ledger: LedgerView) -> Int? {
        guard e.type == "file", let path = ledger.paths[e.seq], let t = LedgerStore.parseTime(e.time) else { return nil }
        return calls.firstIndex { c in
            guard let f = c.file, f == path || path.hasSuffix("/" + f) else { return false }
            let lo = (c.start ?? .distantPast).addingTimeInterval(-fileWindow), hi = (c.end ?? c.start ?? .distantFuture).addingTimeInterval(fileWindow)
            return t >= lo && t <= hi
        }
    }
}

/// The process and effect facts of a ledger that attribution and reports read.
public struct LedgerView {
    public struct Exec { public var seq: Int; public var pid: Int32; public var ppid: Int32; public var argv: [String]; public var effect: Effect }
    public var root: Int32 = 0
    public var execs: [Exec] = []
    /// child -> parent, from forks (and exec's ppid where no fork was seen).
    public var parent: [Int32: Int32] = [:]
    public var exitTime: [Int32: UInt64] = [:]
    public var pids: Set<Int32> = []
    /// Effects outside the workspace and every exec, in order.
    public var effects: [Effect] = []
    /// seq -> path of file effects.
    public var paths: [Int: String] = [:]

    public init(_ entries: [[String: Any]]) {
        for (i, e) in entries.enumerated() {
            let type = e["type"] as? String ?? ""
            let pid = Int32(truncatingIfNeeded: (e["pid"] as? NSNumber)?.int64Value ?? 0)
            let seq = (e["seq"] as? NSNumber)?.intValue ?? i
            func effect(_ text: String) -> Effect {
                let error = e["error"] as? String
                let refused = ["EACCES", "EPERM", "EXDEV"].contains(error ?? "") || e["refused"] as? Bool == true
                    || (e["guard"] as? [String] ?? []).contains("refused")
                return Effect(seq: seq, type: type, text: text, pid: pid, time: e["time"] as? String ?? "",
                              bootNs: (e["boot_ns"] as? NSNumber)?.uint64Value ?? 0, refused: refused, error: error)
            }
            switch type {
            case "begin": root = Int32(truncatingIfNeeded: (e["root"] as? NSNumber)?.int64Value ?? 0)
            case "fork":
                if let c = (e["child"] as? NSNumber)?.int32Value { parent[c] = pid; pids.insert(c) }
                pids.insert(pid)
            case "exec":
                let argv = e["argv"] as? [String] ?? []
                let ppid = Int32(truncatingIfNeeded: (e["ppid"] as? NSNumber)?.int64Value ?? 0)
                if parent[pid] == nil, ppid > 0, pid != root { parent[pid] = ppid }
                pids.insert(pid)
                let x = Exec(seq: seq, pid: pid, ppid: ppid, argv: argv, effect: effect(argv.joined(separator: " ")))
                execs.append(x)
                effects.append(x.effect)
            case "exit": exitTime[pid] = (e["boot_ns"] as? NSNumber)?.uint64Value
            case "file", "net", "priv", "finding":
                effects.append(effect(LedgerView.describe(e)))
                if type == "file", let p = e["path"] as? String { paths[seq] = e["to"] as? String ?? p }
            default: break
            }
        }
    }

    /// One entry in words: "rename /a -> /etc/cron.d/x (EACCES)".
    public static func describe(_ e: [String: Any]) -> String {
        let error = (e["error"] as? String).map { " (\($0))" } ?? ""
        let guardNote = (e["guard"] as? [String]).map { " [kernel: \($0.joined(separator: ", "))]" } ?? ""
        switch e["type"] as? String {
        case "file":
            let to = (e["to"] as? String).map { " -> \($0)" } ?? ""
            return "\(e["op"] as? String ?? "?") \(e["path"] as? String ?? "?")\(to)\(error)\(guardNote)"
        case "net":
            let port = (e["port"] as? NSNumber).map { ":\($0)" } ?? ""
            let refused = e["refused"] as? Bool == true ? " refused" : ""
            return "\(e["op"] as? String ?? "?") \(e["family"] as? String ?? "") \(e["addr"] as? String ?? "")\(port)\(refused)\(error)"
        case "priv":
            let what = [e["path"], e["name"], (e["target"] as? NSNumber).map { "pid \($0)" }].compactMap { $0 as? String }.joined(separator: " ")
            return "\(e["kind"] as? String ?? "?")\(what.isEmpty ? "" : " " + what)\(error)\(guardNote)"
        case "finding":
            return "\((e["severity"] as? String ?? "").uppercased()) \(e["rule"] as? String ?? "?"): \(e["message"] as? String ?? "")"
        default: return e["type"] as? String ?? "?"
        }
    }
}
