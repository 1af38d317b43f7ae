/// A syscall no agent needs and Tether cannot judge by its arguments: io_uring submissions,
/// opening a file by handle (around every path check), another process's memory or
/// descriptors, kernel code, host-wide switches. Refused (EPERM) by seccomp in the sessions
/// Tether launches; in adopted sessions a use is a blind spot, and said as one. A member
/// killed by SIGSYS met a seccomp filter (Tether's kills the 32-bit and x32 syscall ABIs,
/// which the tracer does not decode).
struct EvasionRestrictedSyscall: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "evasion.restricted_syscall", severity: .high, action: .alert, mitre: "T1562.001",
                                    kinds: [.restricted, .exit],
                                    title: "a syscall Tether cannot see into, or one its seccomp filter refused")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .exit {
            guard e.signal == 31 else { return nil } // SIGSYS
            return RuleHit("killed by SIGSYS: a seccomp filter refused a syscall (Tether's kills the 32-bit and x32 syscall ABIs, which it cannot trace)",
                           subject: "SIGSYS", perProcess: true)
        }
        if e.syscall < 0 { // TE_SYSCALL_COMPAT: the 32-bit entry
            let nr = Int64(e.syscall) & 0x7fff_ffff
            if e.guardActions.contains(.refused) {
                return RuleHit("32-bit syscall \(nr) through int 0x80 or sysenter refused: seccomp killed the caller (SIGSYS) before it ran",
                               subject: "32-bit entry", perProcess: true)
            }
            let done = e.guardActions.contains(.killed) ? "; the kernel killed the caller on its return" : ""
            return RuleHit("32-bit syscall \(nr) through int 0x80 or sysenter: Tether does not decode the 32-bit entry, so what it did is not visible\(done)",
                           subject: "32-bit entry", perProcess: true)
        }
        let name = SyscallName.of(e.syscall) ?? "syscall \(e.syscall)"
        if name == "pidfd_open" { return nil } // reported only when it names Tether: escape.tamper's
        if e.result == -1 { // EPERM: refused
            return RuleHit("\(name) refused (EPERM): a syscall no agent needs", subject: name, perProcess: true)
        }
        if name == "io_uring_enter" || name == "io_uring_register" {
            return RuleHit("\(name)\(e.outcomeNote): \(EvasionIoUring.unseen)", subject: name, perProcess: true)
        }
        return RuleHit("\(name)\(e.outcomeNote): what it does is not visible to Tether's tracepoints", subject: name, perProcess: true)
    }
}
