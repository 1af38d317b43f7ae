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

    /// Seconds from SIGTERM to SIGKILL for a finding's `term` action (the agent's term_grace).
    public var termGrace: (Finding) -> Double = { _ in 5 }

    public init(control: SessionControl) { self.control = control }

    /// Carries out `f` on its session; `previous` is what was done to the session before.
    public func handle(_ f: Finding, previous: Action?) -> Response {
        var taken = previous
        let outcome = carryOut(f, previous: previous, taken: &taken)
        let failed = outcome.hasPrefix("stopping the session failed") || outcome.hasPrefix("killing the session failed")
        return Response(outcome: outcome, taken: taken, enforced: f.enforced && !failed)
    }

    private func carryOut(_ f: Finding, previous: Action?, taken: inout Action?) -> String {
        let guarded = f.events.contains { $0.guardActions.contains(.killed) || $0.guardActions.contains(.froze) }
        let aftermath = f.events.compactMap(\.guardAftermath)
        let kernelNote = !guarded ? "" : "; the kernel already killed the offender and froze its session"
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
                return "session killed (\(out.signalled.count) process(es))" + kernelNote
            } catch {
                return "killing the session failed: \(error)"
            }
        }
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
