import Foundation
import TetherControl
import TetherCore
import TetherPipeline
import TetherProbe
import TetherResponse

/// A standalone `tether run` answers `resume` and `kill` for its session on a control
/// socket of its own (/run/tether/run-PID.sock), so a stopped session waits for a person,
/// who decides with `tether resume|kill SESSION` (the CLI tries tetherd, then these).
final class RunControl {
    static let directory = "/run/tether"
    static func path(for pid: Int32) -> String { "\(directory)/run-\(pid).sock" }

    let listener: ControlListener
    /// Requests in flight: the run must not exit before a `kill` has been answered.
    private let inFlight = DispatchGroup()

    init(session: SessionID, probe: Probe, pipeline: Pipeline) throws {
        guard let responder = pipeline.responder else { throw ProbeError("tether run's control socket needs a responder", EINVAL) }
        let control = responder.control
        let path = RunControl.path(for: getpid())
        let inFlight = self.inFlight
        listener = try ControlListener(path: path, authorize: { peer in
            if peer.uid != 0 { return "refused: tether run's control socket answers root only (you are uid \(peer.uid))" }
            if probe.session(of: peer.pid) != nil { return "refused: pid \(peer.pid) is a member of a watched agent session" }
            return nil
        }, handle: { req, c, _ in
            inFlight.enter()
            defer { inFlight.leave() }
            guard req.command == .resume || req.command == .kill || req.command == .sessions else {
                c.send(ControlResponse(ok: false, error: "tether run answers resume, kill and sessions only"))
                return
            }
            if req.command == .sessions {
                let members = control.members(session)
                let known = pipeline.session(session)
                let root = known?.root ?? members.first ?? 0
                c.send(ControlResponse(ok: true, sessions: [SessionInfo(session: session.description, agent: known?.agent ?? pipeline.agentName(slot: 0),
                                                                        root: root, rootAlive: members.contains(root),
                                                                        members: members, rootExe: ProcFS.exe(root), label: known?.label)]))
                return
            }
            guard req.session == session.description else {
                c.send(ControlResponse(ok: false, error: "unknown session \(req.session ?? "-") (this tether run has \(session))"))
                return
            }
            do {
                let out = req.command == .kill ? try control.kill(session) : try control.resume(session)
                pipeline.resumed(session)
                complain("session \(session) \(req.command == .kill ? "killed" : "resumed") by a person (\(out.signalled.count) process(es))")
                c.send(ControlResponse(ok: true, message: "session \(session) \(req.command == .kill ? "killed" : "resumed")",
                                       signalled: out.signalled.count))
            } catch {
                c.send(ControlResponse(ok: false, error: "\(error)"))
            }
        })
        listener.start()
    }

    /// Waits (briefly) for requests being answered, then closes the socket.
    func stop() {
        _ = inFlight.wait(timeout: .now() + 5)
        listener.stop()
    }

    /// Control sockets of running standalone `tether run`s.
    static func sockets() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("run-") && $0.hasSuffix(".sock") }.map { "\(directory)/\($0)" }.sorted()
    }
}
