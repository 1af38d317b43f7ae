import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A workload: one invocation of build/bench/tether-workload (it times itself).
struct Workload {
    var key: String
    var title: String
    /// Arguments after OUT.
    var args: [String]
    var unit: String
}

/// Monitors, in the order they are described.
enum Monitor: String, CaseIterable, Codable {
    case none, floor, tether, confined, ledger, auditd, bpftrace
}

enum Role: String, Codable {
    case agent, other
}

/// One row of the results: a monitor, and whether the workload's user is the one it targets.
struct Config: Hashable, Codable {
    var monitor: Monitor
    var role: Role
    var label: String {
        switch (monitor, role) {
        case (.none, .agent): return "no monitor"
        case (.none, .other): return "no monitor (other user)"
        case (.floor, .agent): return "floor: empty BPF, same hooks"
        case (.floor, .other): return "floor (other user)"
        case (.tether, .other): return "Tether, untracked"
        case (.tether, .agent): return "Tether, tracked"
        case (.confined, .agent): return "Tether, tracked + Landlock + seccomp"
        case (.confined, .other): return "Tether confined, other user"
        case (.ledger, .agent): return "Tether, tracked + session ledger"
        case (.ledger, .other): return "Tether with ledger, other user"
        case (.auditd, .agent): return "auditd, audited user"
        case (.auditd, .other): return "auditd, other user"
        case (.bpftrace, .agent): return "bpftrace, traced user"
        case (.bpftrace, .other): return "bpftrace, other user"
        }
    }
    var short: String {
        switch (monitor, role) {
        case (.tether, .other): return "untracked"
        case (.tether, .agent): return "tracked"
        case (.confined, .agent): return "confined"
        case (.ledger, .agent): return "ledger"
        default: return role == .agent ? monitor.rawValue : "\(monitor.rawValue)/other"
        }
    }
}

/// One workload run under one configuration in one round.
struct RunRecord: Codable {
    var workload: String
    var config: Config
    var round: Int
    var ns: UInt64
    var ops: UInt64
    var events: UInt64
    var kernelEvents: UInt64
    var lost: UInt64
    var cpuNs: UInt64
    var peakKB: UInt64
    var ok: Bool
    var note: String
}

struct SuiteOptions {
    var rounds: Int
    var monitors: [Monitor]
    var workloads: [Workload]
    var binary: String
    var workloadBin: String
    var benchDir: String
    var agent = "tether-agent"
    var other = "tether-other"
}

/// Runs every workload under every configuration, interleaved round by round: in round r
/// the monitors take turns in an order rotated by r, and within a monitor the two users
/// alternate who goes first.
final class Suite {
    let o: SuiteOptions
    private(set) var records: [RunRecord] = []
    private(set) var problems: [String] = []
    private(set) var skipped: [Monitor: String] = [:]
    private var seq = 0
    var agentUID: UInt32 = 0

    init(_ o: SuiteOptions) { self.o = o }

    func run() throws {
        let agent = try Sys.ensureUser(o.agent)
        _ = try Sys.ensureUser(o.other)
        agentUID = agent.uid
        try FileManager.default.createDirectory(atPath: "/tmp/tether-bench/results", withIntermediateDirectories: true)
        chmod("/tmp/tether-bench", 0o755)
        chmod("/tmp/tether-bench/results", 0o1777)

        var monitors = o.monitors
        for m in monitors {
            let why: String? = m == .auditd ? AuditdPeer.available() : m == .bpftrace ? BpftracePeer.available() : nil
            if let why { skipped[m] = why; log("skipping \(m.rawValue): \(why)") }
        }
        monitors.removeAll { skipped[$0] != nil }

        for round in 0..<o.rounds {
            for w in o.workloads {
                let k = round % monitors.count
                let order = Array(monitors[k...] + monitors[..<k])
                for m in order {
                    let roles: [Role] = round % 2 == 0 ? [.agent, .other] : [.other, .agent]
                    do {
                        try session(m, w, round: round, roles: roles)
                    } catch {
                        problems.append("round \(round + 1), \(w.key), \(m.rawValue): \(error)")
                        log("\(w.key) under \(m.rawValue): \(error)")
                    }
                }
            }
            log("round \(round + 1)/\(o.rounds) done")
        }
    }

    /// One monitor session: start the monitor, run the workload as each user, stop it.
    private func session(_ m: Monitor, _ w: Workload, round: Int, roles: [Role]) throws {
        let mode: ServeMode = m == .floor ? .floor : m == .tether ? .tether : m == .confined ? .confined : m == .ledger ? .ledger : .none
        // the confined and ledger configurations differ from the tracked one only for the tracked user
        let roles = m == .confined || m == .ledger ? [Role.agent] : roles
        let server = try ServerProcess(binary: o.binary, mode: mode)
        var peer: Peer?
        do {
            if m == .auditd { peer = try AuditdPeer(benchDir: o.benchDir, uid: agentUID) }
            if m == .bpftrace {
                let argv = [o.workloadBin, "-u", o.agent, "/tmp/tether-bench/results/poke.txt", "openclose", "200"]
                peer = try BpftracePeer(benchDir: o.benchDir, uid: agentUID, poke: { _ = try? server.run(argv, tracked: false) })
            }
        } catch {
            _ = server.stop()
            throw error
        }
        var mine: [Int] = []
        for role in roles {
            let user = role == .agent ? o.agent : o.other
            seq += 1
            let out = "/tmp/tether-bench/results/\(seq).txt"
            unlink(out)
            let argv = [o.workloadBin, "-u", user, out] + w.args
            peer?.beforeRun()
            let s = try server.run(argv, tracked: (m == .tether || m == .confined || m == .ledger) && role == .agent)
            let p = peer?.afterRun()
            var rec = RunRecord(workload: w.key, config: Config(monitor: m, role: role), round: round, ns: 0, ops: 0,
                                events: s.decoded, kernelEvents: s.kernelEvents, lost: s.drops, cpuNs: s.cpuNs,
                                peakKB: 0, ok: s.status == 0, note: "")
            if let p {
                rec.events = p.events
                rec.lost = p.lost
                rec.cpuNs = p.cpuNs
            }
            if s.corrupt > 0 { rec.note = "\(s.corrupt) corrupt records"; rec.ok = false }
            if let text = try? String(contentsOfFile: out, encoding: .utf8) {
                let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt64($0) }
                if f.count >= 2 { rec.ns = f[0]; rec.ops = f[1] }
            }
            if rec.ns == 0 {
                rec.ok = false
                rec.note = "workload exited \(s.status) without a result"
            }
            if !rec.ok { problems.append("round \(round + 1), \(w.key), \(rec.config.label): \(rec.note.isEmpty ? "exit \(s.status)" : rec.note)") }
            unlink(out)
            records.append(rec)
            mine.append(records.count - 1)
        }
        let peakServer = server.stop()
        let peerStop = peer?.stop()
        for i in mine {
            records[i].peakKB = peerStop?.peakKB ?? peakServer
            if let late = peerStop, records[i].config.role == .agent {
                records[i].events += late.lateEvents
                records[i].lost += late.lateLost
            }
        }
    }
}

// MARK: - statistics

struct Spread {
    var median: Double
    var min: Double
    var max: Double
    var n: Int
    init?(_ xs: [Double]) {
        guard !xs.isEmpty else { return nil }
        let s = xs.sorted()
        n = s.count
        median = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        min = s.first!
        max = s.last!
    }
}

/// Per workload and configuration: slowdown ratios against no monitor, round by round.
struct Summary {
    var workload: Workload
    var config: Config
    var ratio: Spread?
    var seconds: Spread?
    var events: Spread?
    var eventsPerSec: Spread?
    var lost: UInt64
    var cpuSeconds: Spread?
    var peakMB: Double
    var failures: Int
}

func summarize(_ records: [RunRecord], workloads: [Workload], configs: [Config]) -> [Summary] {
    var out: [Summary] = []
    for w in workloads {
        for c in configs {
            let mine = records.filter { $0.workload == w.key && $0.config == c }
            if mine.isEmpty { continue }
            let good = mine.filter { $0.ok }
            var ratios: [Double] = []
            for r in good {
                if let base = records.first(where: { $0.workload == w.key && $0.round == r.round && $0.ok
                    && $0.config == Config(monitor: .none, role: r.config.role) }) {
                    ratios.append(Double(r.ns) / Double(base.ns))
                }
            }
            out.append(Summary(workload: w, config: c, ratio: Spread(ratios),
                               seconds: Spread(good.map { Double($0.ns) / 1e9 }),
                               events: Spread(good.map { Double($0.events) }),
                               eventsPerSec: Spread(good.map { Double($0.events) / (Double($0.ns) / 1e9) }),
                               lost: good.reduce(0) { $0 + $1.lost },
                               cpuSeconds: Spread(good.map { Double($0.cpuNs) / 1e9 }),
                               peakMB: Double(good.map { $0.peakKB }.max() ?? 0) / 1024,
                               failures: mine.count - good.count))
        }
    }
    return out
}
