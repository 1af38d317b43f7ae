import Foundation
import TetherControl
import TetherCore
import TetherExport
import TetherPipeline
import TetherProbe
import TetherResponse

/// Answers the control socket: who may ask (root, and never an agent), and what they get.
final class ControlService: @unchecked Sendable {
    unowned let daemon: Daemon

    init(daemon: Daemon) { self.daemon = daemon }

    /// Only root, and not a member of any watched session even if it is root: an agent
    /// must not be able to resume, kill or reconfigure anything.
    func authorize(_ peer: PeerCredentials) -> String? {
        if peer.uid != 0 {
            log("control: refused uid \(peer.uid) (pid \(peer.pid)): not root")
            return "refused: the tetherd control socket answers root only (you are uid \(peer.uid))"
        }
        if daemon.pidsMatchKernel, let s = daemon.probe.session(of: peer.pid) {
            log("control: refused pid \(peer.pid): a member of agent session \(s)")
            return "refused: pid \(peer.pid) belongs to the watched agent session \(s); agents may not control tetherd"
        }
        return nil
    }

    func handle(_ req: ControlRequest, _ c: ControlConnection, _ peer: PeerCredentials) {
        switch req.command {
        case .status:
            c.send(ControlResponse(ok: true, status: daemon.snapshot()))
        case .sessions:
            c.send(ControlResponse(ok: true, sessions: daemon.sessionList()))
        case .alerts:
            let recent = daemon.hub.recentAlerts(limit: max(0, req.limit ?? 50))
            if req.follow == true {
                follow(c, first: recent)
            } else {
                c.send(ControlResponse(ok: true, alerts: recent))
            }
        case .resume, .kill:
            guard let text = req.session, let s = SessionID(text) else {
                c.send(ControlResponse.failure("\(req.command.rawValue): `\(req.session ?? "")` is not a session id (16 hex digits, see `tether sessions`)"))
                return
            }
            guard daemon.pidsMatchKernel else {
                c.send(ControlResponse.failure("\(req.command.rawValue): tetherd runs in a child pid namespace, where the kernel's pids are not its own; it cannot signal sessions safely (run tetherd on the host)"))
                return
            }
            let control = daemon.responder.control
            guard !control.members(s).isEmpty else {
                c.send(ControlResponse.failure("\(req.command.rawValue) \(s): session \(s) has no live processes"))
                return
            }
            do {
                let n = (req.command == .kill ? try control.kill(s) : try control.resume(s)).signalled.count
                daemon.pipeline.resumed(s)
                log("control: session \(s) \(req.command == .kill ? "killed" : "resumed") on request of pid \(peer.pid): \(n) process(es) signalled")
                c.send(ControlResponse(ok: true, message: "session \(s): \(n) process(es) \(req.command == .kill ? "killed" : "resumed")", signalled: n))
            } catch {
                c.send(ControlResponse.failure("\(req.command.rawValue) \(s): \(error)"))
            }
        case .reload:
            log("control: reload requested by pid \(peer.pid)")
            switch daemon.reload() {
            case .success(let text): c.send(ControlResponse(ok: true, message: text))
            case .failure(let e): c.send(ControlResponse.failure("reload rejected, the previous policy stays in force: \(e)"))
            }
        case .register:
            guard let pid = req.pid, pid > 0, let text = req.session, let s = SessionID(text) else {
                c.send(ControlResponse.failure("register: needs `pid` and `session`"))
                return
            }
            var mode: EnforcementMode?
            if let m = req.mode {
                guard let v = EnforcementMode(rawValue: m) else {
                    c.send(ControlResponse.failure("register: mode `\(m)` is neither monitor nor enforce"))
                    return
                }
                mode = v
            }
            guard daemon.pidsMatchKernel else {
                c.send(ControlResponse.failure("register: tetherd runs in a child pid namespace, where the kernel's pids are not its own"))
                return
            }
            if daemon.probe.session(of: pid) != nil {
                c.send(ControlResponse.failure("register: pid \(pid) is already a member of a session"))
                return
            }
            // Follow first, so not one event of the session is missed.
            let stream = req.follow == true ? EventStream(session: s) : nil
            if let stream { daemon.addEventStream(stream) }
            defer { if let stream { daemon.removeEventStream(stream) } }
            do {
                try daemon.register(session: s, root: pid, label: req.label ?? "tether run", mode: mode, confined: req.confined ?? false)
            } catch {
                c.send(ControlResponse.failure("register: \(error)"))
                return
            }
            guard c.send(ControlResponse(ok: true, message: "session \(s) registered")), let stream else { return }
            stream.pump(to: c)
        }
    }

    /// Streams alerts until the client goes away. The publisher only appends to a bounded
    /// queue (never waits on a slow reader); this connection's thread does the writing.
    private func follow(_ c: ControlConnection, first: [AlertRecord]) {
        let cond = NSCondition()
        var queue: [AlertRecord] = []
        var dropped = 0
        let id = daemon.hub.follow { a in
            cond.lock()
            if queue.count < 1000 { queue.append(a) } else { dropped += 1 }
            cond.signal()
            cond.unlock()
        }
        defer { daemon.hub.unfollow(id) }
        guard c.send(ControlResponse(ok: true, alerts: first)) else { return }
        while true {
            cond.lock()
            if queue.isEmpty { _ = cond.wait(until: Date().addingTimeInterval(0.5)) }
            let batch = queue
            let lost = dropped
            queue.removeAll()
            dropped = 0
            cond.unlock()
            if lost > 0, !c.send(ControlResponse(ok: true, message: "\(lost) alert(s) skipped: this client read too slowly")) { return }
            for a in batch where !c.send(ControlResponse(ok: true, alert: a)) { return }
            // the client hung up?
            if c.peerClosed { return }
        }
    }
}

/// One session's events, streamed to the `tether run` that registered it. The reader
/// thread only appends to a bounded queue; the connection's thread writes. Events the
/// client was too slow for are counted and reported to it, never dropped silently.
final class EventStream: @unchecked Sendable {
    let session: SessionID
    private let cond = NSCondition()
    private var lines: [String] = []
    private var dropped = 0
    private let capacity = 1 << 16

    init(session: SessionID) { self.session = session }

    /// Called on the reader thread: never blocks.
    func offer(_ line: String) {
        cond.lock()
        if lines.count < capacity { lines.append(line) } else { dropped += 1 }
        cond.signal()
        cond.unlock()
    }

    /// Writes events until the client hangs up.
    func pump(to c: ControlConnection) {
        while true {
            cond.lock()
            if lines.isEmpty { _ = cond.wait(until: Date().addingTimeInterval(0.2)) }
            let batch = lines
            let lost = dropped
            lines.removeAll(keepingCapacity: true)
            dropped = 0
            cond.unlock()
            if lost > 0, !c.send(ControlResponse(ok: false, error: "\(lost) event(s) of session \(session) were not streamed: this client read too slowly")) { return }
            for l in batch where !c.send(ControlResponse(ok: true, event: l)) { return }
            if batch.isEmpty && c.peerClosed { return }
        }
    }
}
