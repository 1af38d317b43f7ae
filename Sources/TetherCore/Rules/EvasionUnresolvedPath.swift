/// A change made through another process's /proc magic link (`/proc/self/cwd/x`,
/// `/proc/PID/root/x`, `/proc/self/fd/N`) that could not be resolved when Tether looked:
/// the caller had already exited, so where the change landed is unknown. Spelling a path
/// around the resolver and leaving at once is how an agent hides where it wrote; it is never
/// taken for ordinary work. (A magic-link path that still resolves is judged where it led.)
struct EvasionUnresolvedPath: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "evasion.unresolved_path", severity: .high, action: .stop, mitre: "T1036",
                                    // not .open: an open's path is the opened file's, from the kernel
                                    kinds: [.rename, .link, .symlink, .unlink, .rmdir, .mkdir, .chmod, .chown, .truncate, .mknod],
                                    title: "a change through a /proc magic link that Tether could not resolve: where it landed is unknown")

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard e.pathUnresolved, e.succeeded else { return nil }
        let spelled = [e.requested, e.newRequested].compactMap { $0 }.filter { $0.hasPrefix("/proc/") }.joined(separator: ", ")
        return RuleHit("\(e.kind.rawValue) through \(spelled): the caller was gone before Tether could resolve the link, so where it landed is unknown",
                       subject: spelled, perProcess: true)
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
