import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a peer monitor recorded during one workload run.
struct PeerSample {
    var events: UInt64 = 0
    var lost: UInt64 = 0
    var cpuNs: UInt64 = 0
}

protocol Peer: AnyObject {
    func beforeRun()
    func afterRun() -> PeerSample
    /// Stops the peer; returns its peak RSS (KiB) and events that arrived after the last run.
    func stop() -> (peakKB: UInt64, lateEvents: UInt64, lateLost: UInt64)
}

/// auditd with rules auditing Tether's syscalls for the agent user (bench/audit.rules.in),
/// logging to a file of its own. Counts SYSCALL records carrying the rule key.
final class AuditdPeer: Peer {
    static let key = "tetherbench"
    let dir = "/tmp/tether-bench/audit"
    var log: String { dir + "/audit.log" }
    let pid: pid_t
    let kauditd: pid_t?
    private var size0: UInt64 = 0
    private var cpu0: UInt64 = 0
    private var lost0: Int64 = 0

    /// Before any measuring: audit enabled once sends every new process down audit's slow
    /// path for good; `-a never,task` keeps new processes off it, `-e 0` disables audit.
    static func neutralize() {
        guard Sys.which("auditctl") != nil else { return }
        Sys.run(["auditctl", "-D"])
        Sys.run(["auditctl", "-a", "never,task"])
        Sys.run(["auditctl", "-e", "0"])
    }

    static func available() -> String? {
        guard Sys.which("auditd") != nil, Sys.which("auditctl") != nil else { return "auditd not installed (make bench-deps)" }
        if let p = Sys.auditStatus()["pid"], p != 0 { return "an auditd (pid \(p)) is already running" }
        return nil
    }

    init(benchDir: String, uid: UInt32) throws {
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/plugins.d", withIntermediateDirectories: true)
        let conf = try String(contentsOfFile: benchDir + "/auditd.conf.in", encoding: .utf8).replacingOccurrences(of: "@DIR@", with: dir)
        try conf.write(toFile: dir + "/auditd.conf", atomically: true, encoding: .utf8)
        chmod(dir + "/auditd.conf", 0o640)
        let rules = try String(contentsOfFile: benchDir + "/audit.rules.in", encoding: .utf8).replacingOccurrences(of: "@UID@", with: String(uid))
        try rules.write(toFile: dir + "/audit.rules", atomically: true, encoding: .utf8)
        let r = Sys.run(["auditctl", "-R", dir + "/audit.rules"])
        guard r.status == 0 else { throw BenchError("loading audit rules: \(r.output)") }
        let out = open(dir + "/auditd.stderr", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        pid = try Sys.spawn(["auditd", "-n", "-c", dir], stdin: Sys.devNull, stdout: out, stderr: out)
        close(out)
        let deadline = Sys.monotonicNs() + 10_000_000_000
        while Sys.auditStatus()["pid"] != Int64(pid) {
            if Sys.monotonicNs() > deadline {
                kill(pid, SIGKILL)
                _ = Sys.wait(pid)
                throw BenchError("auditd did not register with the kernel: \((try? String(contentsOfFile: dir + "/auditd.stderr", encoding: .utf8)) ?? "")")
            }
            Sys.sleep(ms: 20)
        }
        Sys.run(["auditctl", "-e", "1"])
        kauditd = Sys.pid(ofComm: "kauditd")
    }

    private func cpu() -> UInt64 { (Sys.cpuNs(pid) ?? 0) + (kauditd.flatMap { Sys.cpuNs($0) } ?? 0) }

    /// Waits until the log has stopped growing: auditd writes behind the workload.
    private func settle() { Sys.waitUntilStable(log, checks: 5, timeoutSeconds: 60) }

    func beforeRun() {
        settle()
        size0 = Sys.fileSize(log)
        cpu0 = cpu()
        lost0 = Sys.auditStatus()["lost"] ?? 0
    }

    func afterRun() -> PeerSample {
        settle()
        let size1 = Sys.fileSize(log)
        let n = Sys.count("key=\"\(AuditdPeer.key)\"", in: log, from: size0, to: size1)
        let lost = UInt64(max(0, (Sys.auditStatus()["lost"] ?? 0) - lost0))
        return PeerSample(events: n, lost: lost, cpuNs: cpu() - cpu0)
    }

    func stop() -> (peakKB: UInt64, lateEvents: UInt64, lateLost: UInt64) {
        let hwm = Sys.statusKB(pid, "VmHWM") ?? 0
        kill(pid, SIGTERM)
        _ = Sys.wait(pid)
        AuditdPeer.neutralize()
        try? FileManager.default.removeItem(atPath: log)
        return (hwm, 0, 0)
    }
}

/// bpftrace running bench/tether.bt for the agent user, printing to a file.
final class BpftracePeer: Peer {
    let out = "/tmp/tether-bench/bpftrace.out"
    let err = "/tmp/tether-bench/bpftrace.err"
    let pid: pid_t
    private var size0: UInt64 = 0
    private var lines0: UInt64 = 0
    private var cpu0: UInt64 = 0
    private var attributed: UInt64 = 0

    static func available() -> String? {
        Sys.which("bpftrace") == nil ? "bpftrace not installed (make bench-deps)" : nil
    }

    /// `poke` makes the agent user do something: bpftrace's perf buffer hands output over
    /// only once enough events have arrived, so READY (printed by BEGIN, after attaching)
    /// shows only when the traced user is active.
    init(benchDir: String, uid: UInt32, poke: () -> Void) throws {
        unlink(out)
        let e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        pid = try Sys.spawn(["bpftrace", "-B", "line", "-o", out, benchDir + "/tether.bt", String(uid)], stdin: Sys.devNull, stdout: e, stderr: e)
        close(e)
        let deadline = Sys.monotonicNs() + 60_000_000_000
        while true {
            if let t = try? String(contentsOfFile: out, encoding: .utf8), t.contains("READY") { break }
            var st: Int32 = 0
            if waitpid(pid, &st, WNOHANG) == pid || Sys.monotonicNs() > deadline {
                kill(pid, SIGKILL)
                _ = Sys.wait(pid)
                throw BenchError("bpftrace did not start: \((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")")
            }
            if let t = try? String(contentsOfFile: out, encoding: .utf8), t.contains("Attaching") { poke() }
            Sys.sleep(ms: 100)
        }
    }

    private func lines() -> UInt64 { Sys.count("\n", in: out, from: 0, to: Sys.fileSize(out)) }

    private func settle() { Sys.waitUntilStable(out, checks: 4, timeoutSeconds: 30) }

    func beforeRun() {
        settle()
        lines0 = lines()
        cpu0 = Sys.cpuNs(pid) ?? 0
    }

    func afterRun() -> PeerSample {
        settle()
        let n = lines() - lines0
        attributed += n
        return PeerSample(events: n, lost: 0, cpuNs: (Sys.cpuNs(pid) ?? 0) - cpu0)
    }

    func stop() -> (peakKB: UInt64, lateEvents: UInt64, lateLost: UInt64) {
        let hwm = Sys.statusKB(pid, "VmHWM") ?? 0
        kill(pid, SIGINT)
        _ = Sys.wait(pid)
        // Output still buffered at SIGINT belongs to the runs; the header lines do not.
        let text = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "") + ((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
        var lost: UInt64 = 0
        var header: UInt64 = 0
        for line in text.split(separator: "\n") {
            if line.hasPrefix("Attaching") || line == "READY" { header += 1 }
            if line.contains("Lost "), let n = line.split(separator: " ").compactMap({ UInt64($0) }).first {
                lost += n
                header += 1
            }
        }
        let total = lines()
        let late = total > attributed + lines0Initial(header) ? total - attributed - lines0Initial(header) : 0
        unlink(out)
        return (hwm, late, lost)
    }

    private func lines0Initial(_ header: UInt64) -> UInt64 { header }
}
