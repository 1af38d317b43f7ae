import Foundation
import TetherCore
import TetherProbe

/// A policy compiled for the kernel: which guards act, which inodes they protect, and the
/// egress allow-lists, one per agent slot (slot 0 is the policy's defaults, for `tether
/// run` and unmatched sessions; a retired slot gets the defaults' list).
public struct GuardPlan: Sendable {
    public struct Protected: Sendable, Equatable {
        public var path: String
        public var protection: Protection.RawValue
        public var rule: String
        public init(path: String, protection: Protection.RawValue, rule: String) {
            self.path = path
            self.protection = protection
            self.rule = rule
        }
    }
    public struct Egress: Sendable {
        public var agent: UInt16
        public var cidr: CIDR
        public var ports: [ClosedRange<UInt16>]
    }

    public var guards: Guards = []
    public var protected: [Protected] = []
    /// Files kept as pre-images for an undo, with no kernel guard (`KernelGuardLocations.undoOnly`):
    /// noted in the kernel (`Protection.note`), so their writes survive a flood.
    public var undoOnly: [Protected] = []
    /// Locations of persistence rules no guard acts on (set to alert): noted only.
    public var noted: [Protected] = []
    /// Credential locations: their reads are noted (`Protection.secret`), so a flood cannot
    /// drop them. They may also be in the lists above (their protections add up).
    public var secrets: [Protected] = []
    /// Everything the quarantine keeps pre-images of for this plan.
    public var preimaged: [Protected] { protected + undoOnly }
    public var egress: [Egress] = []
    /// Destinations refused whatever an allow-list says: cloud metadata (every port), and
    /// container runtime APIs (their ports, any address).
    public struct Deny: Sendable {
        public var cidr: CIDR
        public var ports: [ClosedRange<UInt16>]
    }
    public var deny: [Deny] = []
    /// The policy's own deputies (`Policy.deputies`), registered with the built-in ones.
    public var deputies: [Deputy] = []
    /// The processes that run one of them under an interpreter (`Listening.processes`).
    public var deputyProcesses: [Int32: Deputies.Listening.Process] = [:]
    /// The unix sockets the service manager listens on for one of them (`Listening.sockets`).
    public var deputySockets: [Deputies.Listening.Socket] = []
    /// This host's interface addresses (where escape.deputy acts): a connect there to a port
    /// a deputy started listening on while Tether ran is refused by the kernel's deputy guard.
    public var localAddresses: [IPAddress] = []

    public init() {}

    /// Tether's own state and configuration: writing them is tampering.
    public static let tetherPaths = ["/etc/tether", "/var/lib/tether", "/run/tether"]

    /// A directory of Tether's made after the plan was installed (a session's ledger): writing
    /// in it is tampering too. Kept until the next plan's walk of Tether's paths takes it over.
    public static func protectTetherDirectory(_ path: String, probe: Probe) {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return }
        try? probe.protect(dev: UInt64(st.st_dev), inode: UInt64(st.st_ino), [.tamper, .directory])
    }

    /// `homes`: the login users' home directories; `learned`: homes the sessions' processes
    /// have beyond them (`HomeRoots.learned`: a HOME, ZDOTDIR, or an XDG directory that
    /// stands for `under` below a home), whose persistence locations are guarded too.
    /// `listening`: where the TCP deputies listen (sshd's port at least), refused on this
    /// host's addresses.
    public static func compile(_ policy: Policy, slots: AgentSlots, homes: [String] = GuardPlan.homeDirectories(),
                               learned: [(path: String, under: String)] = [],
                               listening: Deputies.Listening = Deputies.currentListening()) -> GuardPlan {
        var plan = GuardPlan()
        plan.deputies = policy.deputies
        plan.deputyProcesses = listening.processes
        plan.deputySockets = listening.sockets
        let agents = [policy.defaults] + policy.agents
        func acts(_ id: String) -> Bool { GuardPlan.acts(id, policy) }
        if acts("escape.tamper") || acts("escape.bpf") || acts("escape.kernel_module") { plan.guards.insert(.tamper) }
        if acts("escape.network") || acts("escape.metadata") { plan.guards.insert(.egress) }
        if acts("escape.kernel_tunables") { plan.guards.insert(.sysctl) }
        if acts("escape.raw_socket") { plan.guards.insert(.rawSockets) }
        if acts("escape.raw_device") { plan.guards.insert(.devices) }
        if acts("escape.tty_injection") { plan.guards.insert(.tty) }
        if acts("escape.deputy") { plan.guards.insert(.deputy) }

        var seen = Set<String>()
        func paths(_ loc: GuardLocation) -> [String] {
            loc.inHome ? homes.map { $0 + "/" + loc.path } + learned.compactMap { h in
                // XDG_CONFIG_HOME/x is ~/.config/x: only the locations below what it stands for
                loc.path.hasPrefix(h.under) ? h.path + "/" + loc.path.dropFirst(h.under.count) : nil
            } : [loc.path]
        }
        /// Every agent's `locations` into `list` as `prot` (with .directory for a directory),
        /// each path once per `seen`.
        func add(_ locations: (AgentPolicy) -> [GuardLocation], _ prot: Protection, to list: inout [Protected], seen: inout Set<String>) {
            for agent in agents {
                for loc in locations(agent) {
                    for p in paths(loc) where seen.insert(p).inserted {
                        list.append(Protected(path: p, protection: (loc.directory ? prot.union(.directory) : prot).rawValue, rule: loc.rule))
                    }
                }
            }
        }
        add(KernelGuardLocations.persistence, .write, to: &plan.protected, seen: &seen)
        add(KernelGuardLocations.undoOnly, .note, to: &plan.undoOnly, seen: &seen)
        // what the rules judge and no guard acts on (git's configuration, rules set to
        // alert) is noted, so that a flood cannot drop its writes
        add(KernelGuardLocations.noted, .note, to: &plan.noted, seen: &seen)
        // credential locations are noted for reads, whatever else protects them
        var secret = Set<String>()
        add(KernelGuardLocations.secrets, .secret, to: &plan.secrets, seen: &secret)
        if !plan.protected.isEmpty || !plan.undoOnly.isEmpty || !plan.noted.isEmpty || !plan.secrets.isEmpty { plan.guards.insert(.write) }
        if plan.guards.contains(.tamper) {
            for p in tetherPaths where seen.insert(p).inserted {
                plan.protected.append(Protected(path: p, protection: Protection([.tamper, .directory]).rawValue, rule: "escape.tamper"))
            }
        }

        let loopback = ["127.0.0.0/8", "::1/128"].compactMap { try? CIDR($0) }
        for (slot, s) in slots.slots.sorted(by: { $0.key < $1.key }) {
            let net = (s.retired ? policy.defaults : policy.agent(named: s.name)).boundary.network
            if net.allowLoopback { for c in loopback { plan.egress.append(Egress(agent: slot, cidr: c, ports: [])) } }
            for a in net.allow {
                let ports = a.ports.map { $0.low...$0.high }
                for c in a.cidrs { plan.egress.append(Egress(agent: slot, cidr: c, ports: ports)) }
            }
        }
        if acts("escape.metadata") || acts("escape.container_socket") { plan.guards.insert(.egress) }
        if acts("escape.metadata") {
            plan.deny += KernelGuardLocations.metadataEndpoints.compactMap { a in (try? CIDR(a.description)).map { Deny(cidr: $0, ports: []) } }
        }
        if acts("escape.container_socket"), let any = try? CIDR("::/0") {
            plan.deny.append(Deny(cidr: any, ports: KernelGuardLocations.containerAPIPorts))
        }
        if acts("escape.deputy") {
            // the TCP deputies' ports on the addresses that reach this host; the longest
            // prefix decides, so these entries carry the container APIs' ports too
            plan.guards.insert(.egress)
            let container = acts("escape.container_socket") ? KernelGuardLocations.containerAPIPorts : []
            let ports = listening.deniedPorts(limit: deputyPortLimit(policy)).ports // the rest: said by refreshListening
            let all = ports.map { $0...$0 } + container
            plan.localAddresses = listening.hostAddresses.sorted { ($0.high, $0.low) < ($1.high, $1.low) }
            let host = plan.localAddresses.map { "\($0)/\($0.isIPv4 ? 32 : 128)" }
            plan.deny += (Deputies.loopback + host).compactMap { c in (try? CIDR(c)).map { Deny(cidr: $0, ports: all) } }
        }
        return plan
    }

    /// Does a rule act (enabled, with an action other than alert) for any agent of `policy`?
    static func acts(_ id: String, _ policy: Policy) -> Bool {
        guard let info = RuleCatalog.info(id) else { return false }
        return ([policy.defaults] + policy.agents).contains { a in let s = a.settings(for: info); return s.enabled && s.action != .alert }
    }

    /// The TCP deputies' ports one deny entry holds: what the container APIs' ranges leave.
    static func deputyPortLimit(_ policy: Policy) -> Int {
        Probe.portRangeLimit - (acts("escape.container_socket", policy) ? KernelGuardLocations.containerAPIPorts.count : 0)
    }

    public struct Installed: Sendable, Equatable {
        public var inodes = 0
        /// Locations protected by their name in their directory (existing or not).
        public var names = 0
        public var egressEntries = 0
        /// Deputy executables found on this host (`Deputies.servers`).
        public var deputies = 0
        /// Locations the kernel cannot guard now: neither they nor their directory exist on
        /// this host (the user-space rules still watch them).
        public var absent: [String] = []
    }

    /// Replaces the kernel's guard maps with this plan, without a moment of fewer guards:
    /// the switches of both plans are on while the new plan's entries go in beside the old
    /// ones; then the old plan's entries go, then its switches. Each location is protected
    /// by its inode (when it exists) and by its name in its directory (when that exists), so
    /// that creating it later, or renaming something over it, is guarded too. Directories
    /// are protected with their subdirectories (bounded walk), since the guard matches a
    /// file's own directory. Locations that meet at one inode or name (a credential
    /// directory below a persistence one) get the union of their protections.
    public func install(_ probe: Probe, maxSubdirectories: Int = 4096) throws -> Installed {
        var out = Installed()
        let before = try probe.guards()
        try probe.setGuards(before.union(guards))
        try probe.beginGuardPlan()
        struct Inode: Hashable { var dev: UInt64, ino: UInt64 }
        struct Name: Hashable { var dir: Inode, name: String }
        var inodes: [Inode: Protection] = [:], names: [Name: Protection] = [:]
        var budget = maxSubdirectories
        for p in protected + undoOnly + noted + secrets {
            let prot = Protection(rawValue: p.protection)
            var st = stat(), dir = stat()
            let exists = lstat(p.path, &st) == 0
            let parent = (p.path as NSString).deletingLastPathComponent
            let name = (p.path as NSString).lastPathComponent
            if lstat(parent, &dir) == 0, dir.st_mode & S_IFMT == S_IFDIR, !name.isEmpty, name != "/",
               name.utf8.count < Probe.protectedNameLimit {
                names[Name(dir: Inode(dev: UInt64(dir.st_dev), ino: UInt64(dir.st_ino)), name: name), default: []]
                    .formUnion(prot.subtracting(.directory))
            } else if !exists, !prot.isSubset(of: [.secret, .directory]) {
                out.absent.append(p.path) // a credential location guards nothing: not missed
            }
            guard exists else { continue }
            inodes[Inode(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino)), default: []].formUnion(prot)
            guard prot.contains(.directory), st.st_mode & S_IFMT == S_IFDIR else { continue }
            let walker = FileManager.default.enumerator(atPath: p.path)
            while budget > 0, let rel = walker?.nextObject() as? String {
                var sub = stat()
                guard lstat(p.path + "/" + rel, &sub) == 0, sub.st_mode & S_IFMT == S_IFDIR else { continue }
                inodes[Inode(dev: UInt64(sub.st_dev), ino: UInt64(sub.st_ino)), default: []].formUnion(prot)
                budget -= 1
            }
        }
        for (k, p) in names { try probe.protect(directoryDev: k.dir.dev, inode: k.dir.ino, name: k.name, p) }
        for (k, p) in inodes { try probe.protect(dev: k.dev, inode: k.ino, p) }
        out.names = names.count
        out.inodes = inodes.count
        for e in egress {
            try probe.allowEgress(agent: e.agent, address: e.cidr.network.bytes, bits: e.cidr.bits, ports: e.ports)
            out.egressEntries += 1
        }
        for d in deny { try probe.denyEgress(address: d.cidr.network.bytes, bits: d.cidr.bits, ports: d.ports) }
        for a in localAddresses { try probe.markLocal(address: a.bytes) }
        Deputies.register(policy: deputies)
        /// The file the kernel runs for `path` (symlinks followed), if it is a regular one.
        func executable(_ path: String) -> (dev: UInt64, ino: UInt64)? {
            var st = stat()
            guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
            return (UInt64(st.st_dev), UInt64(st.st_ino))
        }
        let tcpOnly = Deputies.tcpServers.map { (kind: Deputies.tcpOnlyKind | Probe.tcpOnlyDeputy, name: $0.name, paths: $0.paths) }
        for server in Deputies.all(policy: deputies) + tcpOnly {
            for path in server.paths {
                guard let exe = executable(path) else { continue }
                try probe.registerDeputy(dev: exe.dev, inode: exe.ino, kind: server.kind)
                out.deputies += 1
            }
        }
        // a scripted deputy that starts while this plan is in force: by its interpreter's
        // file and its script as the policy spells it, by its real path, and by its file
        // name in its directory (the exec's working directory)
        for d in Deputies.scripted(policy: deputies) {
            guard let exe = executable(d.interpreter) else { continue }
            let real = realpath(d.script, nil).map { p -> String in defer { free(p) }; return String(cString: p) }
            for spelling in Set([d.script, real ?? d.script]) {
                try probe.registerDeputyScript(interpreterDev: exe.dev, inode: exe.ino, script: spelling, kind: d.kind)
                let path = spelling as NSString
                var dir = stat()
                guard stat(path.deletingLastPathComponent, &dir) == 0 else { continue }
                try probe.registerDeputyScript(interpreterDev: exe.dev, inode: exe.ino, script: path.lastPathComponent,
                                               in: (UInt64(dir.st_dev), UInt64(dir.st_ino)), kind: d.kind)
            }
        }
        for socket in deputySockets { // by the socket file's inode, in deputy_exes (activated_kind)
            try probe.registerDeputy(dev: socket.dev, inode: socket.ino, kind: socket.kind)
            out.deputies += 1
        }
        for (pid, p) in deputyProcesses {
            try probe.registerDeputy(pid: pid, kind: p.kind, start: p.start)
            out.deputies += 1
        }
        let places = protected + undoOnly + noted
        GuardedLocations.set(directories: places.filter { Protection(rawValue: $0.protection).contains(.directory) }.map(\.path),
                             files: places.filter { !Protection(rawValue: $0.protection).contains(.directory) }.map(\.path))
        try probe.sweepGuardPlan() // also the deputies the plan no longer names
        try probe.setGuards(guards)
        return out
    }

    /// Finds where the TCP deputies (sshd, the policy's) listen now and which processes run
    /// the policy's scripted deputies, the sessions' own processes left out
    /// (`Listeners.scan`), and makes that what the rule and the next plan use. `changed`: a
    /// new plan is due; `note`: what to say of it, when what was found differs.
    public static func refreshListening(_ policy: Policy, probe: Probe) -> (changed: Bool, note: String?) {
        let members = Set(((try? probe.tracked()) ?? []).map(\.pid))
        let now = Listeners.scan(deputies: Deputies.tcp(policy: policy.deputies), unix: Deputies.all(policy: policy.deputies),
                                 scripted: Deputies.scripted(policy: policy.deputies), isMember: members.contains)
        let before = Deputies.currentListening()
        guard Deputies.setListening(now) else { return (false, nil) }
        var notes: [String] = []
        if now.processes != before.processes {
            let found = now.processes.sorted { $0.key < $1.key }.map { "\($0.value.name) (pid \($0.key))" }
            notes.append("deputies run by an interpreter on this host: " + (found.isEmpty ? "none running any more" : found.joined(separator: ", ")))
        }
        if now.sockets != before.sockets {
            let found = now.sockets.map { "\($0.name) on \($0.path)" }
            notes.append("unix sockets the service manager listens on for a deputy: " + (found.isEmpty ? "none any more" : found.joined(separator: ", ")))
        }
        if now.activationError != before.activationError {
            notes.append(now.activationError ?? "the service manager's socket units are read again")
        }
        if now.ports != before.ports {
            let over = now.deniedPorts(limit: deputyPortLimit(policy)).over
            let found = now.ports.sorted { $0.key < $1.key }.map { "\($0.value.name) on port \($0.key) (pid \($0.value.pid)\($0.value.pid == 1 ? ", the service manager, listening for it" : ""))" }
            notes.append("TCP deputies on this host: " + (found.isEmpty ? "none listening any more" : found.joined(separator: ", "))
                + "; their ports (and sshd's \(Deputies.sshPort)) are refused on this host's addresses where escape.deputy acts"
                + (over.isEmpty ? "" : "; ports past what the kernel's entry holds, judged but not refused: \(over.map(String.init).joined(separator: ", "))"))
        }
        return (true, notes.isEmpty ? nil : notes.joined(separator: "; ")) // nil: only this host's addresses moved
    }

    /// What a plan installed for the homes the sessions' members run with says (tetherd's
    /// log, `whose` "the sessions'"; `tether run`'s stderr, "the session's").
    public static func learnedHomesNote(_ homes: Int, dropped: Int, _ g: Installed, whose: String) -> String {
        "kernel guards: the persistence locations of \(homes) home(s) \(whose) members run with are guarded too "
            + "(\(g.inodes) protected inode(s), \(g.names) protected name(s))" + (dropped > 0 ? "; \(dropped) more not guarded (limit)" : "")
    }

    /// What the kernel relies on, checked against this plan: the guard switches, and the
    /// tracked set's fast-path bits. Both are written only by Tether, through maps a session
    /// cannot reach (every way to Tether's fds and memory is guarded); found changed they are
    /// put back, and each finding is a line for a critical `tether.guard_tampered` alert.
    public func checkKernel(_ probe: Probe) -> [String] {
        var found: [String] = []
        if let now = try? probe.guards(), now != guards {
            let restored = (try? probe.setGuards(guards)) != nil
            found.append("the kernel's guard switches were changed behind Tether's back (found \(String(now.rawValue, radix: 16)), "
                + "expected \(String(guards.rawValue, radix: 16))): " + (restored ? "put back" : "could not be put back"))
        }
        if let fixed = try? probe.repairTrackedBits(), fixed > 0 {
            found.append("\(fixed) tracked process(es) had their bit in the tracked bitmap cleared behind Tether's back (their syscalls went unseen): put back")
        }
        return found
    }

    /// Home directories of login users (uid 0 and uid >= 1000) that exist.
    public static func homeDirectories() -> [String] {
        guard let text = try? String(contentsOfFile: "/etc/passwd", encoding: .utf8) else { return ["/root"] }
        var out: [String] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 6, let uid = Int(f[2]), uid == 0 || (uid >= 1000 && uid < 65534) else { continue }
            let home = String(f[5])
            var isDir: ObjCBool = false
            if home.hasPrefix("/"), FileManager.default.fileExists(atPath: home, isDirectory: &isDir), isDir.boolValue {
                out.append(home)
            }
        }
        return Array(Set(out)).sorted()
    }
}
