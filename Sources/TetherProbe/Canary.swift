import CTetherProbe
import Glibc
import TetherCore

/// What canary sessions found of the refusals and guards Tether claims (`tether run`'s
/// confinement, tetherd's kernel guards): each claim, and whether the kernel made it good.
public struct GuardProof: Sendable, Equatable {
    public struct Check: Sendable, Equatable {
        public var what: String
        public var effective: Bool
        public var detail: String
        public init(what: String, effective: Bool, detail: String) {
            self.what = what
            self.effective = effective
            self.detail = detail
        }
    }

    public var checks: [Check] = []
    /// Why no canary could run, if none could.
    public var notProven: String?
    public init(checks: [Check] = [], notProven: String? = nil) {
        self.checks = checks
        self.notProven = notProven
    }

    public var ineffective: [String] { checks.filter { !$0.effective }.map(\.what) }

    /// One line: "proven: write guard (cut off …), …", "NOT EFFECTIVE: …", "not proven: …".
    public var summary: String {
        if let notProven { return "not proven: \(notProven)" }
        if checks.isEmpty { return "no kernel guards to prove (the policy acts on nothing)" }
        let bad = checks.filter { !$0.effective }
        if bad.isEmpty { return "proven: " + checks.map { "\($0.what) (\($0.detail))" }.joined(separator: ", ") }
        return "NOT EFFECTIVE: " + bad.map { "\($0.what) (\($0.detail))" }.joined(separator: ", ")
    }

    /// A line per claim: "canary: WHAT: refused (DETAIL)" or "…: NOT REFUSED (…)".
    public var lines: [String] {
        checks.map { "canary: \($0.what): \($0.effective ? "refused" : "NOT REFUSED") (\($0.detail))" }
    }
}

/// The canary's side: what a canary process tries, run as `PROGRAM OP ARGS... [OP ARGS...]`
/// inside its session (`tether canary`, `tetherd --canary-op`). Each op prints "OP ERRNO"
/// (0: it worked) before the next, so a guard that kills the canary leaves the lines before.
public enum CanaryOps {
    /// Runs the ops in order; 2 for an op it does not know or whose arguments are wrong.
    public static func perform(_ args: [String]) -> Int32 {
        setvbuf(stdout, nil, _IOLBF, 0)
        var i = 0
        while i < args.count {
            let rest = Array(args[(i + 1)...])
            let used: Int
            switch args[i] {
            case "write" where rest.count >= 1:
                let fd = open(rest[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                if fd >= 0 { _ = write(fd, "* * * * * root /bin/true\n", 25); close(fd) }
                print("write \(fd < 0 ? errno : 0)")
                used = 1
            case "signal" where rest.count >= 2:
                guard let pid = Int32(rest[0]), let sig = Int32(rest[1]) else { return 2 }
                print("signal \(kill(pid, sig) == 0 ? 0 : errno)")
                used = 2
            case "connect" where rest.count >= 2:
                guard let port = UInt16(rest[1]) else { return 2 }
                print("connect \(connectErrno(rest[0], port))")
                used = 2
            case "uring":
                print("uring \(tp_io_uring_probe())")
                used = 0
            default:
                return 2
            }
            i += 1 + used
        }
        return 0
    }

    /// The canary's report: op → errno.
    public static func results(_ text: String) -> [String: Int32] {
        var out: [String: Int32] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, let e = Int32(f[1]) { out[String(f[0])] = e }
        }
        return out
    }

    /// "it worked", "no answer" (no line: the canary died first) or the errno's name.
    public static func describe(_ e: Int32?) -> String {
        guard let e else { return "no answer" }
        return e == 0 ? "it worked" : Errno.name(e)
    }

    /// A TCP connect's errno, without waiting: a refusal is immediate, a connect let through
    /// is in progress (0).
    static func connectErrno(_ addr: String, _ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        inet_pton(AF_INET, addr, &a.sin_addr)
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        return rc == 0 || errno == EINPROGRESS ? 0 : errno
    }
}
