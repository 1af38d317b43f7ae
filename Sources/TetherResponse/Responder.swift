import Foundation
import TetherCore
import TetherProbe

/// Carries out findings on whole sessions: `stop` freezes the session for a person to
/// decide (`tether resume|kill`), `kill` ends it. In monitor mode nothing is sent and the
/// outcome says what enforce mode would have done. What was done to a session is the
/// session's own state (`SessionState.response`): the caller passes it in and keeps `taken`.
public final class Responder: @unchecked Sendable {
    public let control: SessionControl
    private let lock = NSLock()
    /// Offending syscall (kernel time) -> session stopped, in ns, of every action taken.
    public private(set) var latencies: [UInt64] = []

    /// What handling a finding did.
    public struct Response: Sendable, Equatable {
        /// In words, for the alert.
        public var outcome: String
        /// The action now in force on the session (nil: none).
        public var taken: Action?
        /// The finding's action took effect (false in monitor mode, and when it failed).
        public var enforced: Bool
    }

    /// Where what still landed at a persistence location is undone (nil: nothing is undone).
    public var quarantine: Quarantine?

    /// Seconds from SIGTERM to SIGKILL for a finding's `term` action (the agent's term_grace).
    public var termGrace: (Finding) -> Double = { _ in 5 }

    public init(control: SessionControl) { self.control = control }

    /// Carries out `f` on its session; `previous` is what was done to the session before.
    public func handle(_ f: Finding, previous: Action?) -> Response {
        var taken = previous
        var outcome = carryOut(f, previous: previous, taken: &taken)
        let failed = outcome.hasPrefix("stopping the session failed") || outcome.hasPrefix("killing the session failed")
        let undone = undoLanded(f)
        if !undone.isEmpty { outcome += "; " + undone.joined(separator: "; ") }
        return Response(outcome: outcome, taken: taken, enforced: f.enforced && !failed)
    }

    private func carryOut(_ f: Finding, previous: Action?, taken: inout Action?) -> String {
        let killed = f.events.contains { $0.guardActions.contains(.killed) }
        let froze = f.events.contains { $0.guardActions.contains(.froze) }
        let aftermath = f.events.compactMap(\.guardAftermath)
        // only what the kernel says it did (the 32-bit entry's kill freezes nothing)
        let did = [killed ? "killed the offender" : nil, froze ? "froze its session" : nil].compactMap { $0 }.joined(separator: " and ")
        let kernelNote = did.isEmpty ? "" : "; the kernel already \(did)"
            + (aftermath.isEmpty ? "" : " (left behind: " + aftermath.joined(separator: "; ") + ")")
        guard f.enforced else {
            let verb = [Action.stop: "stopped", .term: "terminated", .kill: "killed"][f.action] ?? "acted on"
            return f.action == .alert ? "alert" : "monitor mode: would have \(verb) the session"
        }
        switch f.action {
        case .alert:
            return "alert" + kernelNote
        case .stop:
            if previous != nil { return "session already \(previous == .kill ? "killed" : "stopped")" + kernelNote }
            do {
                let out = try control.stop(f.session)
                if !out.failed.isEmpty { return "stopping the session failed for \(out.failed.count) process(es): \(out.failed.prefix(3).joined(separator: "; "))" + kernelNote }
                record(f)
                taken = .stop
                if out.signalled.isEmpty { return "nothing left running in the session to stop" + kernelNote }
                return "session stopped (\(out.signalled.count) process(es) frozen; tether resume|kill \(f.session))" + kernelNote
            } catch {
                return "stopping the session failed: \(error)"
            }
        case .term:
            if previous == .kill || previous == .term { return "session already being ended" }
            record(f)
            taken = .term
            let grace = termGrace(f)
            // the grace period must not hold up the event reader: end the session aside
            DispatchQueue.global().async { [control] in _ = try? control.terminate(f.session, grace: grace) }
            return String(format: "session sent SIGTERM; SIGKILL in %.0f s for whatever is left", grace) + kernelNote
        case .kill:
            if previous == .kill { return "session already killed" }
            do {
                let out = try control.kill(f.session)
                if !out.failed.isEmpty { return "killing the session failed for \(out.failed.count) process(es): \(out.failed.prefix(3).joined(separator: "; "))" + kernelNote }
                record(f)
                taken = .kill
                // a finding judged once the session is over (its state file at the end) finds nothing left
                return (out.signalled.isEmpty ? "nothing left running in the session to kill" : "session killed (\(out.signalled.count) process(es))") + kernelNote
            } catch {
                return "killing the session failed: \(error)"
            }
        }
    }

    /// Tells the agent why: `line` on the stderr of the finding's process, or of its nearest
    /// ancestor still alive in the session (the offender is often gone: killed, or a tool that
    /// failed and exited), so the agent's tool output shows it. Never blocks.
    public func tellAgent(_ f: Finding, _ line: String) {
        var tried = Set<Int32>()
        for pid in [f.pid] + f.ancestry.map(\.pid) where pid > 0 && tried.insert(pid).inserted {
            if control.probe.tell(pid: pid, session: f.session, line) || tried.count >= 8 { return }
        }
    }

    /// Lets a member the kernel held at a refusal go on, once whatever was to be said to it
    /// has been said (`tellAgent` runs first, while it cannot exit and close its stderr).
    public func release(_ e: Event) {
        _ = control.probe.release(pid: e.pid, session: e.session) // false: gone meanwhile, nothing to continue
    }

    /// In enforce mode, what a finding's operations left after the kernel killed the caller
    /// (the syscall itself had run): a persistence artifact moved to the quarantine (the
    /// pre-image put back where one was kept), a file capability removed, input pushed into
    /// a terminal discarded.
    private func undoLanded(_ f: Finding) -> [String] {
        guard f.enforced else { return [] }
        if let changes = f.agentStateChanges, let path = f.events.last?.path {
            return [Undo.agentStateServers(changes, in: path)]
        }
        return f.events.compactMap { e in
            e.kind == .setxattr || e.kind == .ioctl || f.rule.hasPrefix("persist.") ? undo(e, rule: f.rule) : nil
        }
    }

    /// Undoes what `e` (a successful rename, link, symlink, or creating or truncating open)
    /// put at its destination, a file capability `e` set, the input `e` pushed into a
    /// terminal; nil when there is nothing to undo (or no quarantine). Safe to ask twice:
    /// what was undone is not there any more.
    public func undo(_ e: Event, rule: String) -> String? {
        guard e.succeeded else { return nil }
        if e.kind == .setxattr { return Undo.capability(e) }
        if e.kind == .ioctl { return Undo.terminalInput(e) }
        guard let quarantine else { return nil }
        let target: String?
        switch e.kind {
        case .rename, .link, .symlink: target = e.newPath
        case .open where (e.flags ?? 0) & (OpenFlags.create | OpenFlags.truncate) != 0:
            // Cut off on its return, an open that did not truncate wrote nothing; and a file
            // with content right after it (the kernel's size at the open) was not made by it:
            // nothing landed (Tether's own ledger appended to, say: it must stay where it is).
            if (e.flags ?? 0) & OpenFlags.truncate == 0, (e.size ?? 0) > 0 { return nil }
            target = e.path
        default: target = nil
        }
        return target.flatMap { quarantine.undo(path: $0, session: e.session, rule: rule) }
    }

    private func record(_ f: Finding) {
        let now = BootClock.nanoseconds()
        let start = f.events.map(\.time).min() ?? f.time
        lock.lock()
        if now > start { latencies.append(now - start) }
        if latencies.count > 10_000 { latencies.removeFirst(latencies.count - 10_000) } // bounded: the latest only
        lock.unlock()
    }
}

/// What is undone without the quarantine: it keeps no artifact.
enum Undo {
    /// MCP servers added to Claude Code's state: removed from it; servers whose definition
    /// was changed: put back as they were. The rest of the file is kept (Claude Code
    /// rewrites it as it likes; what it holds besides is the user's state). The file is
    /// replaced by a rename, with its owner and mode, never written through a link.
    static func agentStateServers(_ changes: [ClaudeState.Change], in path: String) -> String {
        func failed(_ why: String) -> String { "undo failed: undoing MCP server changes in \(path): \(why)" }
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return failed("not a regular file") }
        guard let bytes = HostFiles.read(path, max: ClaudeState.readLimit, noFollow: true),
              var root = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
        else { return failed("not JSON any more") }
        var removed: [String] = [], restored: [String] = []
        /// `servers` with `change` undone, if there was anything to undo
        func undone(_ servers: Any?, _ change: ClaudeState.Change) -> [String: Any]? {
            guard var s = servers as? [String: Any], s[change.server.name] != nil else { return nil }
            if let before = change.before {
                guard let was = (try? JSONSerialization.jsonObject(with: before.json)) as? [String: Any] else { return nil }
                s[change.server.name] = was
                restored.append(change.server.name)
            } else {
                s.removeValue(forKey: change.server.name)
                removed.append(change.server.name)
            }
            return s
        }
        for change in changes {
            let scope = change.server.scope
            if scope == "user" {
                if let s = undone(root["mcpServers"], change) { root["mcpServers"] = s }
            } else if var projects = root["projects"] as? [String: Any], var project = projects[scope] as? [String: Any],
                      let s = undone(project["mcpServers"], change) {
                project["mcpServers"] = s
                projects[scope] = project
                root["projects"] = projects
            }
        }
        guard !removed.isEmpty || !restored.isEmpty else { return "nothing to undo: the MCP server(s) are no longer in \(path)" }
        guard let out = try? JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted]) else { return failed("cannot write JSON") }
        do {
            try Quarantine.replace(path, with: [UInt8](out), mode: mode_t(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid)
        } catch {
            return failed("\(error)")
        }
        let done = (removed.isEmpty ? [] : ["MCP server(s) \(removed.joined(separator: ", ")) removed from \(path)"])
            + (restored.isEmpty ? [] : ["MCP server(s) \(restored.joined(separator: ", ")) put back as they were in \(path)"])
        return "undone: " + done.joined(separator: "; ")
    }

    /// A file capability an agent set: removed (the path is the kernel's; never followed at
    /// its last component).
    static func capability(_ e: Event) -> String? {
        guard e.name == "security.capability", let p = e.path else { return nil }
        let rc = removeFileCapability(p)
        if rc == 0 { return "undone: the file capability on \(p) removed" }
        return rc == -ENODATA ? nil : "undo failed: removing the file capability on \(p): \(String(cString: strerror(-rc)))"
    }

    /// Input pushed into a terminal: whatever is pending in its input queue is discarded
    /// before anyone reads it (the terminal is opened without becoming anyone's controlling one).
    static func terminalInput(_ e: Event) -> String? {
        guard e.request == 0x5412, let p = e.path, p.hasPrefix("/dev/") else { return nil }
        let fd = open(p, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return "undo failed: opening \(p) to discard the pushed input: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        guard tcflush(fd, TCIFLUSH) == 0 else { return "undo failed: discarding the input pending on \(p): \(String(cString: strerror(errno)))" }
        return "undone: the input pending on \(p) discarded"
    }
}
