/// A change whose place Tether cannot vouch for. Either it went through another process's
/// /proc magic link (`/proc/self/cwd/x`, `/proc/PID/root/x`, `/proc/self/fd/N`) that could
/// not be resolved when Tether looked (the caller had already exited), or a second thread
/// rewrote the call's path while the call ran (the kernel compared the string the call began
/// with and the one it returned with: `pathRaced`), so the record names what the kernel may
/// never have used. Spelling a path around the resolver, or swapping it under the call, is
/// how an agent hides where it wrote; neither is ordinary work. (A magic-link path that still
/// resolves is judged where it led.)
struct EvasionUnresolvedPath: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "evasion.unresolved_path", severity: .high, action: .stop, mitre: "T1036",
                                    // .open only for openat2's raced flags (the entry's and the exit's together, so
                                    // a write either way is a write open): an open's path is the opened file's
                                    kinds: [.rename, .link, .symlink, .unlink, .rmdir, .mkdir, .chmod, .chown, .truncate, .mknod,
                                            .setxattr, .chroot, .open],
                                    title: "a change Tether cannot place: a /proc magic link it could not resolve, or a path rewritten while the call ran")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard e.succeeded else { return nil }
        if e.pathRaced {
            let named = [e.requested ?? e.path, e.newRequested ?? e.newPath].compactMap { $0 }.joined(separator: ", ")
            let what = e.kind == .open ? "its flags" : "its path"
            return RuleHit("\(e.kind.rawValue) of \(named) succeeded, but \(what) changed in the caller's memory while the call ran (a second thread rewrote it): the kernel may have acted on another name, so where it acted is unknown",
                           subject: named, perProcess: true)
        }
        guard e.pathUnresolved, e.kind != .open else { return nil }
        let spelled = [e.requested, e.newRequested].compactMap { $0 }.filter { $0.hasPrefix("/proc/") }.joined(separator: ", ")
        return RuleHit("\(e.kind.rawValue) through \(spelled): the caller was gone before Tether could resolve the link, so where it landed is unknown",
                       subject: spelled, perProcess: true)
    }
}

/// A change whose path the kernel could not read when the call began: its page was not in
/// memory (a tracepoint cannot fault it in; the kernel's own copy did), so the string read
/// when the call returned cannot be compared with anything. Unmapping the page holding a
/// path (a file mapping dropped with madvise) and rewriting it while the call runs is how
/// an agent would keep a swap from showing (`evasion.unresolved_path`); an honest program's
/// string literal on a page it has not touched yet looks the same, rarely (none in the
/// measured honest workloads), so this is medium and alerts: a person looks.
struct EvasionUnverifiedPath: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "evasion.unverified_path", severity: .medium, action: .alert, mitre: "T1036",
                                    kinds: EvasionUnresolvedPath.definition.kinds,
                                    title: "a change whose path could not be read when the call began (its page was not in memory)")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard e.succeeded, e.pathUnverified, !e.pathRaced else { return nil }
        let named = [e.requested ?? e.path, e.newRequested ?? e.newPath].compactMap { $0 }.joined(separator: ", ")
        let what = e.kind == .open ? "its flags" : "its path"
        return RuleHit("\(e.kind.rawValue) of \(named) succeeded, but \(what) could not be read when the call began (not in memory then), so nothing shows it is what the kernel used",
                       subject: named, perProcess: true)
    }
}

/// An exec whose new environment the kernel could not read whole (more strings than it
/// reads, 65,536, or an unreadable one): a HOME or an LD_PRELOAD past that point is unseen,
/// and padding the environment is how one hides it. The program is trusted as no
/// credential's tool either way; this says that something may be hidden.
struct EvasionHiddenEnvironment: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "evasion.hidden_environment", severity: .high, action: .stop, mitre: "T1564",
                                    kinds: [.exec],
                                    title: "an exec whose environment the kernel could not read whole: a HOME or LD_PRELOAD may be hidden")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard e.envIncomplete, e.succeeded else { return nil }
        return RuleHit("\(Describe.command(e)): its environment could not be read whole, so a HOME or a loader variable in it may be unseen",
                       subject: "env", perProcess: true)
    }
}

/// A change the kernel could not place at the call. The write guard finds a rename's,
/// link's or symlink's destination again in the dcache, as the kernel's own path walk
/// does, and stops only at what a tracepoint cannot follow: a symlink on the way whose
/// target is kept in a data block (ext4's longer than 59 bytes, tmpfs's longer than 127,
/// btrfs's, overlayfs's), more than four symlinks for one on the path, a walk past its
/// bounds. Where such a change landed was then worked out in user space after the call,
/// which a symlink swapped in between can mislead outside the guarded locations; so the
/// change goes unjudged by the kernel, and that is how an agent would want it. An honest
/// session rarely meets it (none of the 11,602 events of the measured one): medium, and
/// it alerts: a person looks. (A raced path is `evasion.unresolved_path`'s.)
struct EvasionUnplacedDestination: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "evasion.unplaced_destination", severity: .medium, action: .alert, mitre: "T1036",
                                    kinds: [.rename, .link, .symlink, .mkdir],
                                    title: "a change whose destination the kernel could not place at the call (a symlink on the way it cannot follow)")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard e.succeeded, e.guardActions.contains(.unresolved), !e.pathRaced, !e.pathUnresolved else { return nil }
        let moved = e.kind == .rename || e.kind == .link // their destination is the second path
        guard let landed = moved ? e.newPath : e.path else { return nil }
        let spelled = (moved ? e.newRequested : e.requested) ?? landed
        let placed = spelled == landed ? "" : ", found afterwards at \(landed)"
        return RuleHit("\(e.kind.rawValue) to \(spelled): the kernel could not place the destination at the call (a symlink on the way it cannot follow: a target kept in a data block, or more than four deep), so nothing judged it there and where it landed was worked out after the fact\(placed)",
                       subject: spelled, perProcess: true)
    }
}
