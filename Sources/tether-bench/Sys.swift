import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A harness step that could not be done: what, and why.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Processes, /proc and sysctls: the small amount of system plumbing the harness needs.
enum Sys {
    /// Starts argv[0] (PATH lookup) with the given fds as its stdin/stdout/stderr (-1 = inherit).
    static func spawn(_ argv: [String], stdin: Int32 = -1, stdout: Int32 = -1, stderr: Int32 = -1) throws -> pid_t {
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        if stdin >= 0 { posix_spawn_file_actions_adddup2(&fa, stdin, 0) }
        if stdout >= 0 { posix_spawn_file_actions_adddup2(&fa, stdout, 1) }
        if stderr >= 0 { posix_spawn_file_actions_adddup2(&fa, stderr, 2) }
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &fa, nil, cargs, environ)
        if rc != 0 { throw BenchError("starting \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// waitpid with the child's resource usage. Returns (shell-style status, rusage).
    static func wait(_ pid: pid_t) -> (status: Int32, usage: rusage) {
        var st: Int32 = 0
        var ru = rusage()
        while wait4(pid, &st, 0, &ru) < 0 {
            if errno != EINTR { return (127, ru) }
        }
        let sig = st & 0x7f
        return (sig == 0 ? (st >> 8) & 0xff : 128 + sig, ru)
    }

    /// Runs a command to completion; returns its status and combined output.
    @discardableResult
    static func run(_ argv: [String]) -> (status: Int32, output: String) {
        let path = "/tmp/tether-bench/cmd-\(getpid()).out"
        mkdir("/tmp/tether-bench", 0o755) // the first command (useradd) may come before the suite made it
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return (127, "cannot create \(path)") }
        defer { unlink(path) }
        let pid: pid_t
        do { pid = try spawn(argv, stdin: devNull, stdout: fd, stderr: fd) } catch {
            close(fd)
            return (127, "\(error)")
        }
        close(fd)
        let st = wait(pid).status
        return (st, (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }

    static let devNull: Int32 = open("/dev/null", O_RDWR | O_CLOEXEC)

    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(separator: ":")
        where access("\(dir)/\(name)", X_OK) == 0 {
            return "\(dir)/\(name)"
        }
        return nil
    }

    static let ticksPerSecond = UInt64(sysconf(Int32(_SC_CLK_TCK)))

    /// CPU time (user + system) of a process from /proc/PID/stat, in ns; nil if gone.
    static func cpuNs(_ pid: pid_t) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let f = text[text.index(close, offsetBy: 2)...].split(separator: " ")
        guard f.count > 12, let u = UInt64(f[11]), let s = UInt64(f[12]) else { return nil }
        return (u + s) * 1_000_000_000 / ticksPerSecond
    }

    /// A "Key: N kB" line of /proc/PID/status (VmRSS, VmHWM), in KiB.
    static func statusKB(_ pid: pid_t, _ key: String) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        }
        return nil
    }

    /// This process's CPU time (all threads), in ns.
    static func selfCPUNs() -> UInt64 {
        var ru = rusage()
        getrusage(RUSAGE_SELF.rawValue, &ru)
        return usageNs(ru)
    }

    static func usageNs(_ ru: rusage) -> UInt64 {
        UInt64(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1_000_000_000 + UInt64(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000
    }

    /// The first process whose comm is `name` (kernel threads included).
    static func pid(ofComm name: String) -> pid_t? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for n in names {
            guard let p = pid_t(n),
                  let c = try? String(contentsOfFile: "/proc/\(p)/comm", encoding: .utf8) else { continue }
            if c.trimmingCharacters(in: .whitespacesAndNewlines) == name { return p }
        }
        return nil
    }

    static func readSysctl(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func writeSysctl(_ path: String, _ value: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return value.withCString { write(fd, $0, strlen($0)) } >= 0
    }

    /// The uid/gid of `name`, creating it as a system user without a login if missing.
    static func ensureUser(_ name: String) throws -> (uid: UInt32, gid: UInt32) {
        if let pw = getpwnam(name) { return (pw.pointee.pw_uid, pw.pointee.pw_gid) }
        let r = run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/tmp/tether-bench/\(name)",
                     "--shell", "/usr/sbin/nologin", name])
        guard r.status == 0, let pw = getpwnam(name) else {
            throw BenchError("creating the workload user \(name) (useradd): \(r.output)")
        }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }

    static func fileSize(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_size) : 0
    }

    static func sleep(ms: Int) { usleep(useconds_t(ms * 1000)) }

    /// Waits until `path` has not grown for `checks` looks 50 ms apart (a peer writing
    /// behind the workload), or `timeoutSeconds` have passed.
    static func waitUntilStable(_ path: String, checks: Int, timeoutSeconds: UInt64) {
        var last = fileSize(path)
        var stable = 0
        let deadline = monotonicNs() + timeoutSeconds * 1_000_000_000
        while stable < checks && monotonicNs() < deadline {
            sleep(ms: 50)
            let s = fileSize(path)
            stable = s == last ? stable + 1 : 0
            last = s
        }
    }

    static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Counts occurrences of `needle` in bytes [from, to) of a file, streaming.
    static func count(_ needle: String, in path: String, from: UInt64, to: UInt64) -> UInt64 {
        let pat = Array(needle.utf8)
        guard let fh = FileHandle(forReadingAtPath: path), to > from else { return 0 }
        defer { try? fh.close() }
        try? fh.seek(toOffset: from)
        var remaining = to - from
        var carry: [UInt8] = []
        var n: UInt64 = 0
        while remaining > 0 {
            let chunk = fh.readData(ofLength: Int(min(remaining, 8 << 20)))
            if chunk.isEmpty { break }
            remaining -= UInt64(chunk.count)
            let buf = carry + chunk
            buf.withUnsafeBufferPointer { b in
                var i = 0
                let last = b.count - pat.count
                while i <= last {
                    if b[i] == pat[0] {
                        var j = 1
                        while j < pat.count && b[i + j] == pat[j] { j += 1 }
                        if j == pat.count { n += 1; i += pat.count; continue }
                    }
                    i += 1
                }
            }
            carry = Array(buf.suffix(pat.count - 1))
        }
        return n
    }

    /// Lines "key value" of `auditctl -s` as numbers.
    static func auditStatus() -> [String: Int64] {
        var out: [String: Int64] = [:]
        for line in run(["auditctl", "-s"]).output.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count >= 2, let v = Int64(f[1]) { out[String(f[0])] = v }
        }
        return out
    }
}

/// Reads newline-terminated lines from a file descriptor.
final class LineReader {
    let fd: Int32
    private var buf: [UInt8] = []
    init(fd: Int32) { self.fd = fd }

    func readLine() -> String? {
        while true {
            if let i = buf.firstIndex(of: 10) {
                let line = String(decoding: buf[..<i], as: UTF8.self)
                buf.removeSubrange(...i)
                return line
            }
            var tmp = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &tmp, tmp.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            buf.append(contentsOf: tmp[0..<n])
        }
    }
}

func writeLine(_ fd: Int32, _ s: String) {
    let bytes = Array((s + "\n").utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes[off...].withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return }
        off += n
    }
}

func log(_ s: String) {
    FileHandle.standardError.write(Data("tether-bench: \(s)\n".utf8))
}
