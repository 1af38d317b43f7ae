import Foundation
import TetherCore
import TetherProbe

/// Acts on a whole session: every member, found in the kernel's tracked map (so members
/// that left the process group or daemonized are included). Signals go through pidfds,
/// and a pid is only signalled if, with its pidfd open, the kernel still says it belongs
/// to the session: a recycled pid is never hit.
public final class SessionControl: @unchecked Sendable {
    public let probe: Probe

    public init(probe: Probe) { self.probe = probe }

    public struct Outcome: Sendable, Equatable {
        /// Members signalled.
        public var signalled: [Int32] = []
        /// Members that could not be signalled though they were still members, with why
        /// (out of descriptors for the pidfd, say): the action did not reach them.
        public var failed: [String] = []
        /// Passes over the member set until no new member appeared.
        public var passes = 0
    }

    /// SIGSTOP every member; the session is marked frozen in the kernel first, so a child
    /// forked meanwhile is stopped before it runs. Loops until a pass finds no new member.
    @discardableResult
    public func stop(_ session: SessionID) throws -> Outcome {
        try probe.setFrozen(session, true)
        return try signalAll(session, SIGSTOP)
    }

    /// SIGCONT every member and lift the frozen mark.
    @discardableResult
    public func resume(_ session: SessionID) throws -> Outcome {
        try probe.setFrozen(session, false)
        return try signalAll(session, SIGCONT)
    }

    /// SIGKILL every member (frozen first, so nothing forks away while we kill).
    @discardableResult
    public func kill(_ session: SessionID) throws -> Outcome {
        try probe.setFrozen(session, true)
        var out = try signalAll(session, SIGKILL)
        // stopped members die on SIGKILL too; wait until the kernel has pruned them all
        let deadline = Date().addingTimeInterval(2)
        while !members(session).isEmpty && Date() < deadline {
            let again = try signalAll(session, SIGKILL)
            out.signalled = Array(Set(out.signalled).union(again.signalled)).sorted()
            out.failed = again.failed
            usleep(2_000)
        }
        try probe.setFrozen(session, false)
        return out
    }

    /// SIGTERM every member, then SIGKILL whatever is left after `grace` seconds.
    @discardableResult
    public func terminate(_ session: SessionID, grace: TimeInterval) throws -> Outcome {
        var out = try signalAll(session, SIGTERM)
        _ = try signalAll(session, SIGCONT) // a stopped member cannot act on SIGTERM
        let deadline = Date().addingTimeInterval(grace)
        while !members(session).isEmpty && Date() < deadline { usleep(5_000) }
        if !members(session).isEmpty { out.signalled = Array(Set(out.signalled).union(try kill(session).signalled)).sorted() }
        return out
    }

    /// Live members of the session, per the kernel.
    public func members(_ session: SessionID) -> [Int32] {
        ((try? probe.tracked()) ?? []).filter { $0.session == session }.map { $0.pid }.sorted()
    }

    private func signalAll(_ session: SessionID, _ sig: Int32) throws -> Outcome {
        var out = Outcome()
        var done = Set<Int32>()
        while true {
            out.passes += 1
            let fresh = members(session).filter { !done.contains($0) }
            if fresh.isEmpty { break }
            for pid in fresh {
                done.insert(pid)
                // through a pidfd, and only if the map still says it is ours once the pidfd pins it
                do {
                    if try probe.signal(pid: pid, session: session, signal: sig) { out.signalled.append(pid) }
                } catch {
                    out.failed.append("pid \(pid): \(error)")
                }
            }
            if out.passes > 1000 { throw ProbeError("signalling session \(session): members keep appearing", EAGAIN) }
        }
        return out
    }
}
