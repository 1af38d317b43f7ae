import ArgumentParser
import Foundation
import TetherControl
import TetherCore
import TetherExport
import TetherProbe

/// `tether run` with a tetherd running: the daemon tracks the session (and streams its
/// events back for --events) instead of this process loading probes of its own.
extension Run {
    /// The command's shell-style status, or nil when no daemon answers (run standalone).
    func runViaDaemon(confine: Confinement?) throws -> Int32? {
        guard !standalone, access(socket, F_OK) == 0, let conn = try? ControlClient.connect(path: socket) else { return nil }
        defer { conn.close() }
        let session = SessionID.random()
        let output: LineWriter?
        let format: EventFormat
        do {
            let destination = try events.map { try EventFormat.parse(destination: $0) }
            format = destination?.format ?? .tether
            output = try destination.map { try LineWriter(path: $0.path) }
        } catch { complain("\(error)"); throw ExitCode(73) }
        let follow = events != nil
        var refusal: String?
        let started: Launcher.Started
        do {
            started = try Launcher.spawn(command, session: session, confine: confine) { pid in
                conn.send(ControlRequest(command: .register, session: session.description, follow: follow, pid: pid,
                                         label: "tether run: \((command[0] as NSString).lastPathComponent)", mode: mode?.rawValue,
                                         confined: confine != nil))
                guard let line = conn.readLine(), let r = try? ControlCodec.decode(ControlResponse.self, line) else {
                    throw ControlError("\(socket): tetherd closed the connection while registering the session")
                }
                if !r.ok {
                    refusal = r.error ?? "refused"
                    throw ControlError(refusal!)
                }
                // the agent gets the terminal's signals; we stay to drain (ignored while the
                // child is still held, so none can come first)
                signal(SIGINT, SIG_IGN)
                signal(SIGQUIT, SIG_IGN)
            }
        } catch let e as ProbeError {
            complain("\(e)")
            throw ExitCode(e.errno == ENOENT ? 127 : 126) // as a shell: not found 127, not executable 126
        } catch {
            // The daemon would not take the session: say why and run with probes of our own.
            complain("tetherd did not take the session (\(refusal ?? "\(error)")); loading probes here instead")
            return nil
        }

        // Events come back over the connection, on a thread of their own.
        final class Stream: @unchecked Sendable {
            let lock = NSLock()
            var rootExited = false
            var problems: [String] = []
            var undecodable = 0
            let done = DispatchSemaphore(value: 0)
        }
        let st = Stream()
        let root = started.pid
        if follow {
            let t = Thread {
                defer { st.done.signal() }
                while let line = conn.readLine() {
                    guard let r = try? ControlCodec.decode(ControlResponse.self, line) else { continue }
                    if let ev = r.event {
                        // tetherd streams its own lines: written as they came, or re-encoded
                        let e = try? EventJSON.decodeLines(ev).first
                        if format == .tether {
                            output?.write(ev)
                        } else if let e {
                            output?.write(format.encode(e))
                        } else {
                            st.lock.lock(); st.undecodable += 1; st.lock.unlock()
                        }
                        if let e, e.kind == .exit, e.pid == root {
                            st.lock.lock(); st.rootExited = true; st.lock.unlock()
                        }
                    } else if !r.ok, let err = r.error {
                        st.lock.lock(); st.problems.append(err); st.lock.unlock()
                    }
                }
            }
            t.start()
        }
        let status = Launcher.wait(started.pid)
        if follow {
            // the root's exit event is the last one this run owes the caller
            let deadline = Date().addingTimeInterval(3)
            while Date() < deadline {
                st.lock.lock(); let seen = st.rootExited; st.lock.unlock()
                if seen { break }
                usleep(10_000)
            }
            shutdown(conn.fd, Int32(SHUT_RDWR))
            st.done.wait()
        }
        output?.close()
        if let f = output?.failure { complain(f) }
        st.lock.lock()
        for p in st.problems { complain(p) }
        if st.undecodable > 0 { complain("\(st.undecodable) event(s) from tetherd did not decode and are not in \(output?.path ?? "the events file") as \(format.rawValue)") }
        if follow && !st.rootExited { complain("the session's last events did not arrive from tetherd in time") }
        st.lock.unlock()
        if let r = try? ControlClient.call(ControlRequest(command: .sessions), path: socket),
           let me = r.sessions?.first(where: { $0.session == session.description }), !me.members.isEmpty {
            complain("session \(session): \(me.members.count) process(es) still running after the command exited: \(me.members.map(String.init).joined(separator: ", ")) (tetherd keeps watching them)")
        }
        return status
    }
}
