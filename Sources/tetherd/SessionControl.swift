import Foundation
import TetherCore
import TetherProbe
import TetherResponse

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

/// The daemon's controller: TetherResponse's whole-session actions (pidfds, frozen mark
/// in the kernel so children forked meanwhile stop before they run).
final class ResponseController: SessionController {
    let control: SessionControl

    init(control: SessionControl) { self.control = control }

    func resume(_ session: SessionID) throws -> Int {
        guard !control.members(session).isEmpty else { throw SessionControlError(description: "session \(session) has no live processes") }
        return try control.resume(session).signalled.count
    }

    func kill(_ session: SessionID) throws -> Int {
        guard !control.members(session).isEmpty else { throw SessionControlError(description: "session \(session) has no live processes") }
        return try control.kill(session).signalled.count
    }
}
