/// Which agent a process belongs to when the selectors of several agents match it, and
/// the kernel's numbering of agents.
///
/// The kernel decides once per session, at the exec that matched (or when Tether tracks a
/// running process), and every record of the session carries that decision. User space
/// applies the same order only where no exec happens: agents already running when the
/// daemon starts. The order goes from the hardest fact to fake to the easiest:
///   1. `exe`: the executable's inode, which the kernel resolved;
///   2. `cgroup`: set by whoever started the process (systemd), not by the process;
///   3. `comm`: the command name, which follows the executable's file name;
///   4. `uid`: every process of a user.
/// Within one kind, the agent first in the file wins.
public enum SelectorKind: String, CaseIterable, Sendable {
    case exe, cgroup, comm, uid
}

extension Policy {
    /// The agent that selects a process with these facts, by the kernel's precedence.
    public func selectAgent(exe: String?, cgroup: String?, comm: String?, uid: UInt32?) -> AgentPolicy? {
        for kind in SelectorKind.allCases {
            if let a = agents.first(where: { $0.match.selects(kind, exe: exe, cgroup: cgroup, comm: comm, uid: uid) }) { return a }
        }
        return nil
    }

    /// Pairs of agents whose selectors can pick the same process, with what the kernel does
    /// then. `check-policy` prints them as warnings: the policy is valid, but one of the
    /// agents never gets those processes.
    public func selectorOverlaps() -> [String] {
        var out: [String] = []
        func mode(_ a: AgentPolicy) -> String { "\(a.name) (\(a.mode.rawValue))" }
        func winner(_ a: AgentPolicy, _ ak: SelectorKind, _ b: AgentPolicy, _ bk: SelectorKind) -> AgentPolicy {
            let ra = SelectorKind.allCases.firstIndex(of: ak)!, rb = SelectorKind.allCases.firstIndex(of: bk)!
            return ra <= rb ? a : b
        }
        let list = agents
        for i in list.indices {
            for j in list.indices where j > i {
                let a = list[i], b = list[j]
                var found: [String] = []
                // The same key in the same kind: only the first agent ever gets it.
                for c in a.match.comm where b.match.comm.contains(c) { found.append("both select comm '\(c)': \(a.name) wins (first in the file)") }
                for u in a.match.uid where b.match.uid.contains(u) { found.append("both select uid \(u): \(a.name) wins (first in the file)") }
                for (kind, x, y) in [("exe", a.match.exeGlobs, b.match.exeGlobs), ("cgroup", a.match.cgroupGlobs, b.match.cgroupGlobs)] {
                    for g in x {
                        for h in y where g.pattern == h.pattern || (!g.hasWildcards && h.matches(g.pattern)) || (!h.hasWildcards && g.matches(h.pattern)) {
                            found.append("both select \(kind) '\(g.pattern == h.pattern ? g.pattern : (g.hasWildcards ? h.pattern : g.pattern))': \(a.name) wins (first in the file)")
                        }
                    }
                }
                // Across kinds: a process one agent names by executable has a command name
                // (the file name's first 15 bytes) that the other may select.
                for (p, q) in [(a, b), (b, a)] {
                    for g in p.match.exeGlobs {
                        guard let base = g.pattern.split(separator: "/").last, !base.contains(where: { "*?[\\".contains($0) }) else { continue }
                        let comm = String(decoding: Array(base.utf8.prefix(15)), as: UTF8.self)
                        if q.match.comm.contains(comm) {
                            found.append("\(p.name) selects exe '\(g.pattern)', whose command name '\(comm)' \(q.name) selects: exe comes first, \(p.name) wins")
                        }
                    }
                }
                // A uid or cgroup selector covers processes the other agent may name more specifically.
                for (p, q) in [(a, b), (b, a)] {
                    let qKinds = SelectorKind.allCases.filter { q.match.has($0) }
                    if !p.match.uid.isEmpty, let k = qKinds.first(where: { $0 != .uid }) {
                        let w = winner(p, .uid, q, k)
                        found.append("\(p.name) selects uid \(p.match.uid.map(String.init).joined(separator: ", ")), which may also run what \(q.name) selects by \(k.rawValue): \(k.rawValue) comes first, \(w.name) wins")
                    }
                    if !p.match.cgroupGlobs.isEmpty, let k = qKinds.first(where: { $0 == .comm || $0 == .exe }) {
                        let w = winner(p, .cgroup, q, k)
                        found.append("\(p.name) selects cgroup \(p.match.cgroup.joined(separator: ", ")), where what \(q.name) selects by \(k.rawValue) may run: \(w.name) wins (\(w.name == p.name ? "cgroup" : k.rawValue) comes first)")
                    }
                }
                for f in found {
                    let at = [a.name, b.name].compactMap { agentLocations[$0].map { "\($0)" } }
                    let modes = a.mode == b.mode ? "" : "; their modes differ: \(mode(a)), \(mode(b))"
                    out.append("agents \(a.name) and \(b.name)\(at.isEmpty ? "" : " (at \(at.joined(separator: ", ")))") overlap: \(f)\(modes)")
                }
            }
        }
        return out
    }
}

extension AgentMatch {
    func has(_ kind: SelectorKind) -> Bool {
        switch kind {
        case .exe: !exeGlobs.isEmpty
        case .cgroup: !cgroupGlobs.isEmpty
        case .comm: !comm.isEmpty
        case .uid: !uid.isEmpty
        }
    }

    /// Does a selector of this kind pick the process?
    public func selects(_ kind: SelectorKind, exe: String?, cgroup: String?, comm: String?, uid: UInt32?) -> Bool {
        switch kind {
        case .exe: exe.map { e in exeGlobs.contains { $0.matches(e) } } ?? false
        case .cgroup: cgroup.map { c in cgroupGlobs.contains { $0.matches(c) } } ?? false
        case .comm: comm.map { self.comm.contains($0) } ?? false
        case .uid: uid.map { self.uid.contains($0) } ?? false
        }
    }
}

/// The kernel's numbering of agents: slot -> agent, as its `agents` map holds it. Slot 0
/// is the policy's defaults. An agent keeps its slot across reloads and restarts (the
/// kernel's map is pinned and holds the names), so a running session's slot goes on
/// naming its agent. A slot whose agent left the policy is retired while sessions still
/// use it: they run under the defaults from then on.
public struct AgentSlots: Sendable, Equatable {
    /// The kernel's capacity (TE_AGENT_MAX); slot 0 is the defaults.
    public static let capacity = 256
    /// Bytes of a name the kernel keeps, NUL excluded (TE_AGENT_NAME - 1).
    public static let nameLimit = 55

    public struct Slot: Sendable, Equatable {
        /// The agent's name (for a retired slot: the name it had).
        public var name: String
        public var retired: Bool
        public init(name: String, retired: Bool = false) { self.name = name; self.retired = retired }
    }
    public private(set) var slots: [UInt16: Slot]
    private var byName: [String: UInt16]

    public init(_ slots: [UInt16: Slot]) {
        self.slots = slots
        var n: [String: UInt16] = [:]
        for (k, v) in slots where !v.retired { n[v.name] = k }
        byName = n
    }

    /// Slots for `policy`. An agent the kernel already has keeps its slot (by name, retired
    /// or not); a new one takes the lowest free slot; a kernel slot whose agent is gone is
    /// kept, retired, if a session in `inUse` still has it, and freed otherwise.
    public static func assign(_ policy: Policy, kernel: [UInt16: Slot], inUse: Set<UInt16>) throws -> AgentSlots {
        var out: [UInt16: Slot] = [0: Slot(name: policy.defaults.name)]
        var known: [String: UInt16] = [:]
        for (slot, s) in kernel where slot != 0 { known[s.name] = slot }
        var pending: [String] = []
        for a in policy.agents {
            if let slot = known[a.name], out[slot] == nil { out[slot] = Slot(name: a.name) } else { pending.append(a.name) }
        }
        for (slot, s) in kernel where slot != 0 && out[slot] == nil && inUse.contains(slot) {
            out[slot] = Slot(name: s.name, retired: true)
        }
        var next: UInt16 = 1
        for name in pending {
            while out[next] != nil {
                next += 1
                if Int(next) >= capacity { throw AgentSlotsFull(agents: policy.agents.count, retired: out.values.filter(\.retired).count) }
            }
            out[next] = Slot(name: name)
        }
        return AgentSlots(out)
    }

    public struct AgentSlotsFull: Error, CustomStringConvertible {
        public var agents: Int
        public var retired: Int
        public var description: String {
            "the kernel has room for \(AgentSlots.capacity - 1) agents: this policy has \(agents), and \(retired) agent(s) that left the policy still have running sessions"
        }
    }

    public func slot(of name: String) -> UInt16? { byName[name] }

    /// The agent a slot's sessions run under now: its own, or the defaults for a retired or
    /// unknown slot.
    public func agentName(_ slot: UInt16, defaults: String) -> String {
        guard let s = slots[slot], !s.retired else { return defaults }
        return s.name
    }

    /// `agentName` for every slot the kernel can name, indexed by slot (the per-event lookup:
    /// an array load, and every event of a slot shares one String).
    public func names(defaults: String) -> [String] {
        (0..<AgentSlots.capacity).map { agentName(UInt16($0), defaults: defaults) }
    }
}
