import Foundation
import TetherCore
import TetherProbe

/// Stops, resumes and kills whole sessions. The daemon's default signals every tracked
/// member through pidfds; a richer controller (cgroup freezer, kernel-side) can replace it.
protocol SessionController: AnyObject {
    /// Continues every stopped member (SIGCONT); returns how many were signalled.
    func resume(_ session: SessionID) throws -> Int
    /// Kills every member (SIGKILL), including ones forked while it runs; returns how many.
    func kill(_ session: SessionID) throws -> Int
}

struct SessionControlError: Error, CustomStringConvertible {
    var description: String
}

final class PidfdSessionController: SessionController {
    let probe: Probe
    /// Passes over the tracked map before giving up on a session that keeps forking.
    var maxRounds = 50

    init(probe: Probe) { self.probe = probe }

    private func members(_ s: SessionID) throws -> [Int32] {
        try probe.tracked().filter { $0.session == s }.map(\.pid)
    }

    func resume(_ session: SessionID) throws -> Int {
        let pids = try members(session)
        guard !pids.isEmpty else { throw SessionControlError(description: "session \(session) has no live processes") }
        return try signalUntilStable(session, SIGCONT)
    }

    func kill(_ session: SessionID) throws -> Int {
        let pids = try members(session)
        guard !pids.isEmpty else { throw SessionControlError(description: "session \(session) has no live processes") }
        // Freeze first so nobody forks past the kill, then kill the frozen set.
        let stopped = try signalUntilStable(session, SIGSTOP)
        let n = max(stopped, try signalUntilStable(session, SIGKILL))
        // Killed members leave the tracked map as they exit; wait briefly so callers see it.
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline, !(try members(session)).isEmpty { usleep(10_000) }
        return n
    }

    /// Signals every member, again and again, until a pass finds no member it has not
    /// signalled yet (children forked in between inherit the session in the kernel).
    private func signalUntilStable(_ session: SessionID, _ sig: Int32) throws -> Int {
        var seen = Set<Int32>()
        var signalled = 0
        for _ in 0..<maxRounds {
            let fresh = try members(session).filter { !seen.contains($0) }
            if fresh.isEmpty { return signalled }
            for pid in fresh {
                seen.insert(pid)
                if try probe.signal(pid: pid, session: session, signal: sig) { signalled += 1 }
            }
        }
        throw SessionControlError(description: "session \(session) kept creating processes through \(maxRounds) passes; \(signalled) signalled")
    }
}
