import CTetherProbe
import Glibc
import TetherCore

/// A `ConfinementPlan` made into kernel objects for `Launcher.spawn` (a Landlock ruleset and
/// a seccomp filter), with the statement of what this kernel refuses and what it leaves to
/// the tracepoint guards. Each feature is probed; what the kernel lacks is said, never claimed.
public final class Confinement {
    /// The Landlock ABI of this kernel (0: none).
    public let abi: Int
    /// What is refused, one line each.
    public private(set) var refused: [String] = []
    /// What this kernel or this policy leaves unrefused, one line each.
    public private(set) var notRefused: [String] = []
    /// What else a person should know (roots the session cannot create), one line each.
    public private(set) var notes: [String] = []
    /// The seccomp filter refuses these (names).
    public private(set) var refusedSyscalls: [String] = []
    public var landlockApplied: Bool { ruleset >= 0 }
    public var seccompApplied: Bool { !filter.isEmpty }

    private var ruleset: Int32 = -1
    private var scopesSignals = false
    private var filter: [UInt8] = []
    private var filterLen: UInt16 = 0

    // Landlock access rights (the kernel's stable numbering).
    static let fsABI1: UInt64 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12)
    static let fsRefer: UInt64 = 1 << 13
    static let fsTruncate: UInt64 = 1 << 14
    static let netConnectTCP: UInt64 = 1 << 1
    static let scopeAbstractUnix: UInt64 = 1 << 0
    static let scopeSignal: UInt64 = 1 << 1

    public init(_ plan: ConfinementPlan, abi: Int = Int(tp_landlock_abi())) throws {
        self.abi = abi
        if plan.landlock { try buildLandlock(plan) }
        if !plan.refusedSyscalls.isEmpty { try buildSeccomp(plan.refusedSyscalls) }
        if landlockApplied || seccompApplied {
            refused.append("privilege gain on exec: setuid and file capabilities do not raise privileges (no_new_privs)")
        }
    }

    deinit { if ruleset >= 0 { close(ruleset) } }

    private func buildLandlock(_ plan: ConfinementPlan) throws {
        guard abi >= 1 else {
            notRefused.append("file changes outside the boundary: this kernel has no Landlock (the tracepoint guards still act, after the fact)")
            return
        }
        var fs = Self.fsABI1
        if abi >= 2 { fs |= Self.fsRefer }
        if abi >= 3, plan.refuseTruncate { fs |= Self.fsTruncate }
        var net: UInt64 = 0
        if abi >= 4, plan.connectPorts != nil { net |= Self.netConnectTCP }
        var scoped: UInt64 = 0
        if abi >= 6 {
            if plan.scopeSignals { scoped |= Self.scopeSignal; scopesSignals = true }
            if plan.scopeAbstractUnix { scoped |= Self.scopeAbstractUnix }
        }
        let fd = tp_landlock_ruleset(fs, net, scoped, Int32(abi))
        guard fd >= 0 else { throw ProbeError("creating the Landlock ruleset", fd, kernel: false) }
        ruleset = fd
        var allowed = 0
        var failed: [String] = []
        for path in plan.writable {
            let rc = tp_landlock_allow_path(fd, path, fs)
            if rc == 0 { allowed += 1 } else { failed.append("\(path) (\(String(cString: strerror(-rc))))") }
        }
        refused.append("file changes (write, create, truncate, rename, link, remove) outside \(allowed) writable path(s) and at the persistence locations inside them: EACCES (Landlock ABI \(abi))")
        if abi >= 2 {
            refused.append("a rename or link that carries a file across the boundary: EXDEV")
        } else {
            notes.append("renames and links between directories fail with EXDEV everywhere (Landlock ABI 1 has no REFER)")
        }
        if abi < 3 {
            notRefused.append("truncate(2) by path outside the boundary (needs Landlock ABI 3, this kernel has \(abi))")
        } else if !plan.refuseTruncate {
            notRefused.append("truncate(2) by path outside the boundary (refuse_truncate: false)")
        }
        refused.append("ptrace, and reading or writing the memory or descriptors of a process outside the session (Landlock domain)")
        if let ports = plan.connectPorts {
            if abi >= 4 {
                for p in ports {
                    let rc = tp_landlock_allow_port(fd, UInt64(p), Self.netConnectTCP)
                    if rc != 0 { failed.append("TCP port \(p) (\(String(cString: strerror(-rc))))") }
                }
                refused.append("TCP connect to ports other than \(ports.map(String.init).joined(separator: ", ")) (addresses: the cgroup egress hook)")
            } else {
                notRefused.append("TCP connect by port (needs Landlock ABI 4, this kernel has \(abi)); the cgroup egress hook judges destinations")
            }
        } else {
            notRefused.append("TCP connect by port in Landlock (\(plan.connectNote)); the cgroup egress hook judges destinations")
        }
        for (want, what) in [(plan.scopeSignals, "signals to processes outside the session"),
                             (plan.scopeAbstractUnix, "connecting to abstract unix sockets outside the session")] where want {
            if abi >= 6 { refused.append("\(what): EPERM (Landlock scope)") } else {
                notRefused.append("\(what) (needs Landlock ABI 6, this kernel has \(abi))")
            }
        }
        if !plan.absent.isEmpty {
            let shown = plan.absent.prefix(6).joined(separator: ", ") + (plan.absent.count > 6 ? ", and \(plan.absent.count - 6) more" : "")
            notes.append("\(plan.absent.count) writable root(s) absent at launch, which the session cannot create (create them first to let it): \(shown)")
        }
        if !plan.carved.isEmpty {
            refused.append("new entries directly in \(plan.carved.joined(separator: ", ")) (they hold persistence locations; what exists in them stays writable)")
        }
        if !plan.overBudget.isEmpty {
            refused.append("every change in \(plan.overBudget.joined(separator: ", ")) (too many entries to open one by one around their persistence locations)")
        }
        if !failed.isEmpty { refused.append("changes in what could not be allowed: \(failed.joined(separator: ", "))") }
    }

    private func buildSeccomp(_ names: [String]) throws {
        var numbers: [Int32] = []
        var unknown: [String] = []
        for n in names {
            let nr = tp_syscall_number(n)
            if nr >= 0 { numbers.append(nr); refusedSyscalls.append(n) } else { unknown.append(n) }
        }
        if !unknown.isEmpty { notRefused.append("syscalls this architecture does not have or Tether cannot refuse here: \(unknown.joined(separator: ", "))") }
        let size = Int(tp_seccomp_insn_size()), max = 300
        var buf = [UInt8](repeating: 0, count: size * max)
        let n = buf.withUnsafeMutableBytes { tp_seccomp_build(numbers, Int32(numbers.count), EPERM, $0.baseAddress, Int32(max)) }
        if n == -ENOTSUP {
            notRefused.append("syscalls (seccomp): Tether builds its filter for x86-64 only")
            return
        }
        guard n > 0 else { throw ProbeError("building the seccomp filter", n, kernel: false) }
        filter = Array(buf[0..<(Int(n) * size)])
        filterLen = UInt16(n)
        if !refusedSyscalls.isEmpty { refused.append("syscalls \(refusedSyscalls.joined(separator: ", ")): EPERM (seccomp)") }
        refused.append("the 32-bit and x32 syscall ABIs: the caller is killed (SIGSYS)")
    }

    /// Proves the confinement with a throwaway canary session before any agent runs under
    /// it: `canary` (the argv of a program that runs `CanaryOps`) starts under the same
    /// Landlock domain and seccomp filter, tries a write outside the boundary, a signal to us
    /// (outside its session) and a refused syscall, and every refusal this confinement claims
    /// must have happened.
    public func prove(canary: [String], scratch: String, writable: [String]) throws -> GuardProof {
        let dir = scratch + "/canary.\(getpid())"
        mkdir(dir, 0o700)
        defer { unlink(dir + "/canary"); unlink(dir + "/out"); rmdir(dir) }
        let out = dir + "/out"
        let ops = ["write", dir + "/canary", "signal", String(getpid()), "0", "uring"]
        let started = try Launcher.spawn(canary + ops, stdout: out, session: SessionID(0), confine: self) { _ in }
        let status = Launcher.wait(started.pid)
        guard status == 0, let text = try? String(contentsOfFile: out, encoding: .utf8) else {
            throw ProbeError("running the canary", -EIO, detail: "the canary session exited \(status) without its report", kernel: false)
        }
        let got = CanaryOps.results(text)
        func check(_ what: String, _ op: String, _ want: Int32) -> GuardProof.Check {
            GuardProof.Check(what: what, effective: got[op] == want, detail: CanaryOps.describe(got[op]))
        }
        var p = GuardProof()
        if landlockApplied, !writable.contains(where: { dir == $0 || dir.hasPrefix($0 + "/") }) {
            p.checks.append(check("a file created outside the boundary", "write", EACCES))
        }
        if landlockApplied, abi >= 6, scopesSignals { p.checks.append(check("a signal to a process outside the session", "signal", EPERM)) }
        if seccompApplied, refusedSyscalls.contains("io_uring_setup") { p.checks.append(check("io_uring_setup", "uring", EPERM)) }
        return p
    }

    /// The child's part, for `tp_spawn_held`.
    func withConfine<R>(_ body: (UnsafePointer<tp_confine>) -> R) -> R {
        filter.withUnsafeBytes { f in
            var c = tp_confine(ruleset_fd: ruleset, no_new_privs: landlockApplied || seccompApplied ? 1 : 0,
                               filter_len: filterLen, filter: f.baseAddress)
            return withUnsafePointer(to: &c) { body($0) }
        }
    }

    /// The statement `tether run` prints: what is refused, then what is not.
    public var statement: [String] {
        refused.map { "refused: \($0)" } + notRefused.map { "not refused: \($0)" } + notes.map { "note: \($0)" }
    }
}
