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
                             agent: UInt16 = 0, mode: EnforcementMode? = nil, confine: Confinement? = nil) throws -> Started {
        try spawn(argv, cwd: cwd, stdout: stdout, session: session, confine: confine) { pid in
            try probe.track(pid: pid, session: session, root: pid, agent: agent, mode: mode)
        }
    }

    /// Forks `argv` held, calls `track` with its pid (its own probe, or a running daemon
    /// over the control socket), and lets it exec only once `track` returned: then it applies
    /// `confine` (Landlock, seccomp) to itself, and execs.
    public static func spawn(_ argv: [String], cwd: String? = nil, stdout: String? = nil, session: SessionID,
                             confine: Confinement? = nil, track: (Int32) throws -> Void) throws -> Started {
        precondition(!argv.isEmpty)
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for p in cargs { free(p) } }
        var pid: Int32 = 0, release: Int32 = -1, status: Int32 = -1
        let rc = withOptionalCString(cwd) { c in
            withOptionalCString(stdout) { o in
                if let confine { return confine.withConfine { tp_spawn_held(&cargs, c, o, $0, &pid, &release, &status) } }
                return tp_spawn_held(&cargs, c, o, nil, &pid, &release, &status)
            }
        }
        if rc < 0 { throw ProbeError("fork", rc, kernel: false) }
        do {
            try track(pid)
        } catch {
            kill(pid, SIGKILL)
            var stage: Int32 = 0
            _ = tp_spawn_release(release, status, &stage)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            throw error
        }
        var stage: Int32 = 0
        let erc = tp_spawn_release(release, status, &stage)
        if erc < 0 {
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            let what: String
            switch Int(stage) {
            case Int(TP_STAGE_CWD): what = "changing to \(cwd ?? "?")"
            case Int(TP_STAGE_STDOUT): what = "opening \(stdout ?? "?")"
            case Int(TP_STAGE_NO_NEW_PRIVS): what = "confining the session (no_new_privs)"
            case Int(TP_STAGE_LANDLOCK): what = "confining the session (Landlock)"
            case Int(TP_STAGE_SECCOMP): what = "confining the session (seccomp)"
            default: what = "executing \(argv[0])"
            }
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
