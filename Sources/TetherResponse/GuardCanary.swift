import Foundation
import TetherCore
import TetherProbe

/// Proves tetherd's kernel guards with throwaway canary sessions, at start and after each
/// reload: a member of a session in enforce mode writes into a protected directory (the
/// write guard must cut it off), signals tetherd (the tamper guard must), and connects to
/// a destination outside its allow-list (the egress hook must refuse). A guard the policy
/// does not switch on is not claimed; one that is on and did not act is said, loudly.
/// A peer's most common failure is believing it enforces when it does not.
public enum GuardCanary {
    /// A destination no allow-list of `policy`'s defaults lets through, for the egress check
    /// (TEST-NET-1, RFC 5737; port 9, discard), or nil when the defaults allow it.
    public static func refusedDestination(_ policy: Policy) -> (String, UInt16)? {
        guard let a = IPAddress("192.0.2.1") else { return nil }
        return policy.defaults.boundary.network.allows(a, port: 9) ? nil : ("192.0.2.1", 9)
    }

    /// Runs the canaries. `program` is the argv prefix of a binary that runs `CanaryOps`
    /// (tetherd's `--canary-op`); `mute` is called with each canary session before it
    /// starts, so its events and findings stay out of the sinks.
    public static func prove(probe: Probe, guards: Guards, program: [String], scratch: String, tetherPid: Int32,
                             egressTo destination: (String, UInt16)?, mute: (SessionID) -> Void) -> GuardProof {
        var proof = GuardProof()
        let dir = scratch + "/guard-canary.\(getpid())"
        mkdir(dir, 0o700)
        defer {
            if let names = try? FileManager.default.contentsOfDirectory(atPath: dir) { for n in names { unlink(dir + "/" + n) } }
            rmdir(dir)
        }

        /// One canary session: its exit (shell-style status) and what it printed.
        func canary(_ args: [String]) -> (Int32, String) {
            let session = SessionID.random()
            mute(session)
            let out = dir + "/out-\(session)"
            do {
                let started = try Launcher.spawn(program + args, stdout: out, session: session) { pid in
                    try probe.track(pid: pid, session: session, root: pid, agent: 0, mode: .enforce)
                }
                let status = Launcher.wait(started.pid)
                try? probe.setFrozen(session, false) // the guard froze the canary's session: nothing left in it
                return (status, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
            } catch {
                return (-1, "\(error)")
            }
        }

        if guards.contains(.write) {
            // a directory of its own, protected like a persistence directory for this check
            var st = stat()
            let target = dir + "/protected"
            mkdir(target, 0o700)
            if stat(target, &st) == 0, (try? probe.protect(dev: UInt64(st.st_dev), inode: UInt64(st.st_ino), [.write, .directory])) != nil {
                let (status, _) = canary(["write", target + "/job"])
                var size = stat()
                let landed = stat(target + "/job", &size) == 0 ? Int(size.st_size) : 0
                proof.checks.append(GuardProof.Check(what: "write guard", effective: status == 128 + SIGKILL && landed == 0,
                                          detail: status == 128 + SIGKILL ? "cut off, \(landed) byte(s) landed" : "the writer exited \(status), \(landed) byte(s) landed"))
                try? probe.unprotect(dev: UInt64(st.st_dev), inode: UInt64(st.st_ino))
                unlink(target + "/job")
                rmdir(target)
            } else {
                proof.checks.append(GuardProof.Check(what: "write guard", effective: false, detail: "could not protect the canary's directory"))
            }
        }
        if guards.contains(.tamper) {
            let (status, _) = canary(["signal", String(tetherPid), String(SIGCONT)])
            proof.checks.append(GuardProof.Check(what: "tamper guard", effective: status == 128 + SIGKILL,
                                      detail: status == 128 + SIGKILL ? "cut off" : "the sender exited \(status)"))
        }
        if guards.contains(.egress), let (addr, port) = destination {
            let (status, text) = canary(["connect", addr, String(port)])
            let e = CanaryOps.results(text)["connect"]
            proof.checks.append(GuardProof.Check(what: "egress guard", effective: status == 0 && e == EPERM,
                                                 detail: e == EPERM ? "refused (EPERM)" : e == 0 ? "connected to \(addr):\(port)" : "connect: \(CanaryOps.describe(e))"))
        }
        return proof
    }
}
