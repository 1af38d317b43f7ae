#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Classifier throughput on a fixed list of events (for `make bench`). Each pass starts a
/// fresh process table and classifier (so findings and dedupe behave as in a live
/// session) and feeds every event through `table.apply` and `classifier.process`, the
/// daemon's per-event path; `tick` runs once per 1024 events. Every rule is enabled as the
/// policy says. Single-threaded, timed by the thread's CPU clock: the result is events per
/// second of one core's time, not disturbed by other load on the machine.
public enum ClassifierBenchmark {
    public static func run(events: [Event], policy: Policy, seconds: Double) -> (eventsPerSecond: Double, findings: Int) {
        guard !events.isEmpty else { return (0, 0) }
        var processed = 0
        var findings = 0
        var elapsed = 0.0
        repeat {
            let classifier = Classifier(policy: policy)
            classifier.homeDirectory = { $0 == 0 ? "/root" : "/home/user\($0)" } // no passwd lookups in the timing
            let table = ProcessTable()
            var found = 0
            // A private copy, made before the clock starts: the daemon gets each event from the
            // decoder by value, so copying events out of a shared array is not part of its cost.
            var batch = events
            batch.withUnsafeMutableBufferPointer { _ in }
            let start = now()
            batch.withUnsafeMutableBufferPointer { b in
                for i in b.indices {
                    table.apply(&b[i])
                    found &+= classifier.process(b[i], table: table).count
                    if i & 1023 == 0 { found &+= classifier.tick(now: b[i].time, table: table).count }
                }
            }
            elapsed += now() - start
            withExtendedLifetime(batch) {}
            processed += events.count
            findings = found
        } while elapsed < seconds
        return (Double(processed) / elapsed, findings)
    }

    /// A synthetic developer session when no recording is at hand: builds, edits, git, package
    /// installs, tests and network, with a few persistence and escape attempts mixed in.
    /// Deterministic for a given `count`.
    public static func sampleWorkload(count: Int, sessions: Int = 4) -> [Event] {
        var out: [Event] = []
        out.reserveCapacity(count)
        var rng = SplitMix(seed: 42)
        var time: UInt64 = 1_000_000_000
        var nextPid: Int32 = 10_000
        let homes = (0..<sessions).map { "/home/user\(1000 + $0)" }
        var live: [[Int32]] = (0..<sessions).map { s in [Int32(1000 + s * 100)] }
        let sids = (0..<sessions).map { SessionID(UInt64(0x5e55_0000 + $0)) }
        let reads = ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache", "/etc/passwd", "/proc/self/status",
                     "/usr/lib/python3.11/json/__init__.py", "/etc/os-release", "/sys/devices/system/cpu/online", "/etc/hosts"]
        func ev(_ k: EventKind, _ s: Int, _ pid: Int32, _ fill: (inout Event) -> Void) {
            time += 1000
            var e = Event(kind: k, time: time, pid: pid, ppid: live[s][0], uid: UInt32(1000 + s), session: sids[s], result: 0, comm: "bench")
            fill(&e)
            out.append(e)
        }
        for s in 0..<sessions {
            let root = live[s][0]
            ev(.exec, s, root) { $0.path = "/usr/bin/node"; $0.argv = ["node", "agent.js"]; $0.cwd = homes[s] + "/proj"; $0.sessionStart = true }
        }
        while out.count < count {
            let s = Int(rng.next() % UInt64(sessions))
            let ws = homes[s] + "/proj"
            let pid = live[s][Int(rng.next() % UInt64(live[s].count))]
            let r = rng.next() % 1000
            switch r {
            case 0..<450:
                let p = r % 3 == 0 ? ws + "/src/file\(r % 50).swift" : reads[Int(r) % reads.count]
                ev(.open, s, pid) { $0.path = p; $0.flags = 0; $0.result = 3 }
            case 450..<600:
                ev(.open, s, pid) { $0.path = ws + "/.build/obj\(r % 97).o"; $0.flags = OpenFlags.writeOnly | OpenFlags.create | OpenFlags.truncate; $0.mode = 0o644; $0.result = 3 }
            case 600..<650:
                ev(.open, s, pid) { $0.path = "/tmp/cc\(r).s"; $0.flags = OpenFlags.writeOnly | OpenFlags.create; $0.mode = 0o600; $0.result = 3 }
            case 650..<700:
                ev(.unlink, s, pid) { $0.path = "/tmp/cc\(r - 50).s" }
            case 700..<730:
                ev(.rename, s, pid) { $0.path = ws + "/.git/index.lock"; $0.newPath = ws + "/.git/index" }
            case 730..<780:
                let child = nextPid
                nextPid += 1
                ev(.fork, s, pid) { $0.target = child; $0.result = Int64(child) }
                live[s].append(child)
                let tools = [("/usr/bin/git", ["git", "status"]), ("/usr/bin/swift", ["swift", "build"]), ("/usr/bin/python3", ["python3", "-m", "pytest"]),
                             ("/usr/bin/ls", ["ls", "-la"]), ("/usr/bin/cat", ["cat", "README.md"])]
                let t = tools[Int(r) % tools.count]
                ev(.exec, s, child) { $0.path = t.0; $0.argv = t.1; $0.cwd = ws }
            case 780..<830:
                if live[s].count > 1 {
                    let victim = live[s].removeLast()
                    ev(.exit, s, victim) { $0.exitCode = 0 }
                } else {
                    ev(.open, s, pid) { $0.path = reads[0]; $0.flags = 0; $0.result = 3 }
                }
            case 830..<880:
                ev(.connect, s, pid) { $0.family = .inet; $0.addr = r % 2 == 0 ? "127.0.0.1" : "140.82.112.\(r % 200)"; $0.port = r % 2 == 0 ? 8080 : 443; $0.result = -115 }
            case 880..<900:
                ev(.sendto, s, pid) { $0.family = .inet; $0.addr = "127.0.0.53"; $0.port = 53; $0.result = 40 }
            case 900..<920:
                ev(.mkdir, s, pid) { $0.path = ws + "/.build/dir\(r)"; $0.mode = 0o755 }
            case 920..<940:
                ev(.chmod, s, pid) { $0.path = ws + "/.build/debug/app"; $0.mode = 0o755 }
            case 940..<950:
                ev(.open, s, pid) { $0.path = homes[s] + "/.cache/pip/http/\(r)"; $0.flags = OpenFlags.writeOnly | OpenFlags.create; $0.mode = 0o644; $0.result = 3 }
            case 950..<960:
                ev(.kill, s, pid) { $0.target = live[s].last; $0.signal = 15 }
            case 960..<965:
                // Escapes and persistence attempts (one finding each, deduplicated after).
                let bad = ["/etc/cron.d/job\(r)", homes[s] + "/.bashrc", "/etc/systemd/system/x\(r).service", "/opt/out\(r)", "/etc/ld.so.preload"]
                ev(.open, s, pid) { $0.path = bad[Int(r) % bad.count]; $0.flags = OpenFlags.writeOnly | OpenFlags.create; $0.mode = 0o644; $0.result = -13 }
            case 965..<970:
                ev(.open, s, pid) { $0.path = homes[s] + "/.ssh/id_ed25519"; $0.flags = 0; $0.result = 3 }
            case 970..<975:
                ev(.connect, s, pid) { $0.family = .inet; $0.addr = "10.0.\(r % 5).9"; $0.port = 5432; $0.result = -111 }
            case 975..<985:
                ev(.setsid, s, pid) { $0.result = Int64(pid) }
            default:
                ev(.exec, s, pid) { $0.path = "/usr/bin/sh"; $0.argv = ["sh", "-c", "true"]; $0.cwd = ws }
            }
        }
        return out
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Small deterministic generator (the workload must be the same on every run).
    private struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
