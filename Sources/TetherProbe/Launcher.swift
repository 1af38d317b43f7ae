import CTetherProbe
import Foundation
import TetherCore

/// Starts a command as a new agent session, tracked from its first instruction: the child
/// is forked and held, its pid goes into the tracked map, and only then does it exec.
public enum Launcher {
    public struct Started {
        public var pid: Int32
        public var session: SessionID
    }

    /// `mode`: the session's own mode (nil: its agent's, from the kernel's `agents` map).
    public static func spawn(_ argv: [String], cwd: String? = nil, stdout: String? = nil, session: SessionID, probe: Probe,
                             agent: UInt16 = 0, mode: EnforcementMode? = nil) throws -> Started {
        try spawn(argv, cwd: cwd, stdout: stdout, session: session) { pid in
            try probe.track(pid: pid, session: session, root: pid, agent: agent, mode: mode)
        }
    }

    /// Forks `argv` held, calls `track` with its pid (its own probe, or a running daemon
    /// over the control socket), and lets it exec only once `track` returned.
    public static func spawn(_ argv: [String], cwd: String? = nil, stdout: String? = nil, session: SessionID,
                             track: (Int32) throws -> Void) throws -> Started {
        precondition(!argv.isEmpty)
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for p in cargs { free(p) } }
        var pid: Int32 = 0, release: Int32 = -1, status: Int32 = -1
        let rc = withOptionalCString(cwd) { c in
            withOptionalCString(stdout) { o in tp_spawn_held(&cargs, c, o, &pid, &release, &status) }
        }
        if rc < 0 { throw ProbeError("fork", rc, kernel: false) }
        do {
            try track(pid)
        } catch {
            kill(pid, SIGKILL)
            _ = tp_spawn_release(release, status)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            throw error
        }
        let erc = tp_spawn_release(release, status)
        if erc < 0 {
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            let what = cwd != nil && erc == -ENOENT && access(cwd!, F_OK) != 0 ? "changing to \(cwd!)" : "executing \(argv[0])"
            throw ProbeError(what, erc, detail: "\(what): \(String(cString: strerror(-erc)))", kernel: false)
        }
        return Started(pid: pid, session: session)
    }

    private static func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let s else { return body(nil) }
        return s.withCString { body($0) }
    }

    /// waitpid, retrying EINTR. Returns the shell-style status: code, or 128 + signal.
    public static func wait(_ pid: Int32) -> Int32 {
        var st: Int32 = 0
        while waitpid(pid, &st, 0) < 0 {
            if errno != EINTR { return 127 }
        }
        if st & 0x7f == 0 { return (st >> 8) & 0xff }
        return 128 + (st & 0x7f)
    }
}
