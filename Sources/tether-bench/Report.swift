import Foundation
import TetherProbe
#if canImport(Glibc)
import Glibc
#endif

struct Machine: Codable {
    var kernel: String
    var cpu: String
    var cores: Int
    var memoryGB: Double
    var date: String

    static func describe() -> Machine {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let mem = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE))) / 1e9
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm"
        f.timeZone = TimeZone(identifier: "UTC")
        return Machine(kernel: release, cpu: model, cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), memoryGB: mem,
                       date: f.string(from: Date()) + " UTC")
    }
}

struct ThroughputStep: Codable {
    enum Producer: String, Codable {
        case openClose = "open+close"
        case missing = "failed open"
    }
    enum Consumer: String, Codable, CaseIterable {
        case swift                 // tetherd's pipeline: decode + process table + classifier
        case swiftJSON = "swift+json" // and JSON encoding of every event (`tether run --events`)
        case swiftLedger = "swift+ledger" // tetherd's pipeline with its session ledger written
        case c                     // plain C that counts records: the consumer floor
    }
    var consumer: Consumer
    var producer: Producer
    var target: Double
    var achieved: Double
    var events: UInt64
    var decoded: UInt64
    var drops: UInt64
    var consumerCPU: Double
    var seconds: Double
}

struct Stage: Codable {
    var name: String
    var eventsPerSec: Double
}

struct ClassifyResult: Codable {
    var recorded: Int
    var processed: Int
    var stages: [Stage]
    var note: String
    var latency: LatencyResult?
}

struct MemoryResult: Codable {
    var idleKB: UInt64
    var trackedProcesses: Int
    var tableEntries: Int
    var trackedKB: UInt64
    /// (events delivered so far, RSS KiB) after each chunk.
    var samples: [[UInt64]]
    var drops: UInt64
    /// (sessions started and ended so far, RSS KiB): session state must go with its session.
    var sessionSamples: [[UInt64]] = []
}

struct Report: Codable {
    var machine: Machine
    var smoke: Bool
    var rounds: Int
    var workloadKeys: [String]
    var workloadTitles: [String]
    var workloadArgs: [[String]]
    var workloadUnits: [String]
    var records: [RunRecord] = []
    var skipped: [Monitor: String] = [:]
    var pipeline: [ThroughputStep]? = nil
    var classify: ClassifyResult? = nil
    var memory: MemoryResult? = nil
    var elapsed: Double = 0

    init(machine: Machine, smoke: Bool, rounds: Int, workloads: [Workload]) {
        self.machine = machine
        self.smoke = smoke
        self.rounds = rounds
        workloadKeys = workloads.map { $0.key }
        workloadTitles = workloads.map { $0.title }
        workloadArgs = workloads.map { $0.args }
        workloadUnits = workloads.map { $0.unit }
    }

    var workloads: [Workload] {
        workloadKeys.indices.map { Workload(key: workloadKeys[$0], title: workloadTitles[$0], args: workloadArgs[$0], unit: workloadUnits[$0]) }
    }

    static let configOrder: [Config] = [
        Config(monitor: .none, role: .agent), Config(monitor: .floor, role: .agent), Config(monitor: .floor, role: .other),
        Config(monitor: .tether, role: .other), Config(monitor: .tether, role: .agent), Config(monitor: .confined, role: .agent),
        Config(monitor: .ledger, role: .agent), Config(monitor: .auditd, role: .other), Config(monitor: .auditd, role: .agent),
        Config(monitor: .bpftrace, role: .other), Config(monitor: .bpftrace, role: .agent),
    ]

    var summaries: [Summary] { summarize(records, workloads: workloads, configs: Report.configOrder) }

    func summary(_ w: String, _ c: Config) -> Summary? {
        summaries.first { $0.workload.key == w && $0.config == c }
    }

    // MARK: text

    static func r2(_ x: Double) -> String { String(format: x >= 10 ? "%.1f" : "%.2f", x) }
    static func spreadText(_ s: Spread?) -> String {
        guard let s else { return "—" }
        return "\(r2(s.median)) [\(r2(s.min))–\(r2(s.max))]"
    }
    static func count(_ x: Double) -> String {
        if x >= 1e6 { return String(format: "%.2fM", x / 1e6) }
        if x >= 1e4 { return String(format: "%.0fK", x / 1e3) }
        return String(format: "%.0f", x)
    }

    /// Rows of one workload's table: label, slowdown, seconds, events, events/s, lost, CPU s, peak RSS.
    func rows(_ w: Workload) -> [[String]] {
        summaries.filter { $0.workload.key == w.key }.map { s in
            let isNone = s.config.monitor == .none
            let recorded = !isNone && s.config.monitor != .floor
            return [s.config.label + (s.failures > 0 ? " (\(s.failures) failed)" : ""),
                    isNone ? "1.00" : Report.spreadText(s.ratio),
                    s.seconds.map { String(format: "%.3f", $0.median) } ?? "—",
                    recorded ? s.events.map { Report.count($0.median) } ?? "—" : "—",
                    recorded && [.tether, .confined, .ledger].contains(s.config.monitor) ? s.eventsPerSec.map { Report.count($0.median) + "/s" } ?? "—" : "—",
                    recorded ? String(s.lost) : "—",
                    isNone ? "—" : s.cpuSeconds.map { String(format: "%.3f", $0.median) } ?? "—",
                    isNone ? "—" : String(format: "%.1f", s.peakMB)]
        }
    }

    static let headers = ["configuration", "slowdown median [min–max]", "workload s", "events recorded",
                          "events/s to Swift", "lost", "monitor CPU s", "monitor peak RSS MB"]

    func slowdownText() -> String {
        var out = "\n== Slowdown (\(rounds) interleaved rounds; ratio to no monitor in the same round) ==\n"
        for w in workloads {
            out += "\n\(w.title): \(w.args.filter { Int($0) != nil }.joined(separator: " ")) \(w.unit)\n"
            out += table(Report.headers, rows(w))
        }
        for (m, why) in skipped { out += "\n(\(m.rawValue) skipped: \(why))\n" }
        return out
    }

    func table(_ head: [String], _ rows: [[String]]) -> String {
        var width = head.map { $0.count }
        for r in rows { for (i, c) in r.enumerated() { width[i] = max(width[i], c.count) } }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, c in i == 0 ? c.padding(toLength: width[i], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: width[i] - c.count) + c }.joined(separator: "  ")
        }
        return ([line(head)] + rows.map(line)).joined(separator: "\n") + "\n"
    }

    /// What means the harness (not Tether) is broken: nothing recorded where something must be.
    func sanityProblems() -> [String] {
        var p: [String] = []
        for w in workloads {
            if let s = summary(w.key, Config(monitor: .tether, role: .agent)), (s.events?.min ?? 0) == 0 {
                p.append("\(w.key): the tracked configuration recorded no events")
            }
            if let s = summary(w.key, Config(monitor: .tether, role: .other)), (s.events?.max ?? 0) > 0 {
                p.append("\(w.key): the untracked configuration recorded events (\(Int(s.events!.max)))")
            }
            for m in [Monitor.auditd, .bpftrace] {
                if let s = summary(w.key, Config(monitor: m, role: .agent)), (s.events?.min ?? 0) == 0 {
                    p.append("\(w.key): \(m.rawValue) recorded no events for the agent user")
                }
            }
            if summary(w.key, Config(monitor: .none, role: .agent))?.seconds == nil {
                p.append("\(w.key): no successful run without a monitor")
            }
        }
        return p
    }

    func pipelineText() -> String {
        guard let steps = pipeline else { return "" }
        var out = "\n== Pipeline throughput (tracked paced opens, default \(ProbeOptions().ringBufferBytes >> 20) MiB ring buffer) ==\n"
        out += table(["consumer", "producer", "target/s", "achieved/s", "events", "delivered", "drops", "consumer CPU s"],
                     steps.map { [$0.consumer.rawValue, $0.producer.rawValue, $0.target >= 1e8 ? "unpaced" : Report.count($0.target), Report.count($0.achieved),
                                  String($0.events), String($0.decoded), String($0.drops), String(format: "%.2f", $0.consumerCPU)] })
        for c in ThroughputStep.Consumer.allCases {
            out += "highest sustained rate with zero drops, \(c.rawValue) consumer: \(maxRate(c).map { Report.count($0) + "/s" } ?? "none")\n"
        }
        return out
    }

    /// The highest achieved rate among steps with no drops that reached ≥ 95% of their target.
    func maxRate(_ consumer: ThroughputStep.Consumer) -> Double? {
        pipeline?.filter { $0.consumer == consumer && $0.drops == 0 && $0.decoded >= $0.events
            && ($0.target >= 1e8 || $0.achieved >= 0.95 * $0.target) }.map { $0.achieved }.max()
    }

    func pipelineProblems() -> [String] {
        guard let steps = pipeline else { return ["pipeline measurement produced nothing"] }
        return steps.filter { $0.events == 0 }.map { "pipeline \($0.consumer.rawValue) at \(Report.count($0.target))/s recorded no events" }
    }

    func classifyText() -> String {
        guard let c = classify else { return "" }
        var out = "\n== Swift pipeline stages on \(c.recorded) recorded records (one thread, \(c.processed) events each) ==\n"
        out += table(["stage", "events/s"], c.stages.map { [$0.name, Report.count($0.eventsPerSec) + "/s"] })
        if !c.note.isEmpty { out += c.note + "\n" }
        if let l = c.latency {
            out += String(format: "\n== Detection to containment (offending syscall's return -> session stopped, user-space path) ==\n%d trials: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                          l.trials, l.p50Ms, l.p99Ms, l.maxMs)
        }
        return out
    }

    func memoryText() -> String {
        guard let m = memory else { return "" }
        var out = "\n== Memory of the monitor process (VmRSS) ==\n"
        out += String(format: "idle, probe loaded: %.1f MB\n", Double(m.idleKB) / 1024)
        out += String(format: "%d tracked processes (%d in the process table): %.1f MB\n", m.trackedProcesses, m.tableEntries, Double(m.trackedKB) / 1024)
        for s in m.samples { out += String(format: "after %@ events: %.1f MB\n", Report.count(Double(s[0])), Double(s[1]) / 1024) }
        for s in m.sessionSamples { out += String(format: "after %llu sessions started and ended: %.1f MB\n", s[0], Double(s[1]) / 1024) }
        out += "drops: \(m.drops)\n"
        return out
    }

    // MARK: goals

    struct Goal {
        var text: String
        var measured: String
        var met: Bool?
    }

    func goals() -> [Goal] {
        var g: [Goal] = []
        func med(_ w: String, _ c: Config) -> Double? { summary(w, c)?.ratio?.median }
        let floorC = Config(monitor: .floor, role: .other), untracked = Config(monitor: .tether, role: .other)
        let tracked = Config(monitor: .tether, role: .agent)
        for w in workloads {
            if let f = med(w.key, floorC) ?? med(w.key, Config(monitor: .floor, role: .agent)), let u = med(w.key, untracked) {
                g.append(Goal(text: "\(w.title): untracked within 10% of the floor", measured: "\(Report.r2(u)) vs \(Report.r2(f))", met: u <= f * 1.10))
            }
        }
        for w in workloads {
            if let t = med(w.key, tracked), let c = med(w.key, Config(monitor: .confined, role: .agent)) {
                g.append(Goal(text: "\(w.title): Landlock + seccomp within 5% of tracked alone", measured: "\(Report.r2(c)) vs \(Report.r2(t))", met: c <= t * 1.05))
            }
        }
        for w in workloads {
            if let t = med(w.key, tracked), let l = med(w.key, Config(monitor: .ledger, role: .agent)) {
                g.append(Goal(text: "\(w.title): with the session ledger within 5% of tracked alone", measured: "\(Report.r2(l)) vs \(Report.r2(t))", met: l <= t * 1.05))
            }
        }
        if let t = med("openclose", tracked) { g.append(Goal(text: "open/close loop: tracked ≤ 1.5x", measured: Report.r2(t), met: t <= 1.5)) }
        if let t = med("dev", tracked) { g.append(Goal(text: "developer workload: tracked ≤ 1.05x", measured: Report.r2(t), met: t <= 1.05)) }
        for w in workloads {
            guard let t = med(w.key, tracked) else { continue }
            for m in [Monitor.auditd, .bpftrace] {
                if let p = med(w.key, Config(monitor: m, role: .agent)) {
                    g.append(Goal(text: "\(w.title): tracked no slower than \(m.rawValue)", measured: "\(Report.r2(t)) vs \(Report.r2(p))", met: t <= p))
                }
            }
        }
        for w in workloads {
            if let s = summary(w.key, tracked) {
                g.append(Goal(text: "\(w.title): no drops when tracked at the loop's full rate",
                              measured: "\(s.lost) lost, \(s.eventsPerSec.map { Report.count($0.median) } ?? "?")/s", met: s.lost == 0))
            }
        }
        if let c = classify {
            if let s = c.stages.first(where: { $0.name.hasPrefix("classifier") }) {
                g.append(Goal(text: "classifier ≥ 1M events/s (one core)", measured: Report.count(s.eventsPerSec) + "/s", met: s.eventsPerSec >= 1e6))
            } else {
                g.append(Goal(text: "classifier ≥ 1M events/s (one core)", measured: "classifier not built yet", met: nil))
            }
        }
        if pipeline != nil {
            let s = maxRate(.swift), c = maxRate(.c)
            if let s, let c {
                g.append(Goal(text: "Swift consumer ≥ half the C consumer's rate", measured: "\(Report.count(s))/s vs \(Report.count(c))/s", met: s >= c / 2))
            }
            let at500K = { (c: ThroughputStep.Consumer) in self.pipeline?.first { $0.consumer == c && $0.producer == .missing && $0.target == 500_000 } }
            if let step = at500K(.swift) {
                var measured = "\(step.drops) drops at \(Report.count(step.achieved))/s achieved"
                if let j = at500K(.swiftJSON) { measured += " (with JSON encoding too: \(j.drops) drops)" }
                g.append(Goal(text: "no drops at 500K events/s sustained, default buffer",
                              measured: measured, met: step.drops == 0 && step.achieved >= 475_000))
            }
        }
        if let m = memory {
            g.append(Goal(text: "RSS ≤ 40 MB with \(m.trackedProcesses) tracked processes", measured: String(format: "%.1f MB", Double(m.trackedKB) / 1024),
                          met: m.trackedProcesses >= 1000 ? m.trackedKB <= 40 * 1024 : nil))
            if let first = m.samples.first, let last = m.samples.last, m.samples.count > 1 {
                g.append(Goal(text: "RSS does not grow with events delivered",
                              measured: String(format: "%.1f MB after %@, %.1f MB after %@", Double(first[1]) / 1024, Report.count(Double(first[0])),
                                               Double(last[1]) / 1024, Report.count(Double(last[0]))),
                              met: last[1] <= first[1] + 1024))
            }
            if let first = m.sessionSamples.first, let last = m.sessionSamples.last, m.sessionSamples.count > 1 {
                g.append(Goal(text: "RSS after \(last[0]) ended sessions within 10% of RSS after \(first[0])",
                              measured: String(format: "%.1f MB vs %.1f MB", Double(last[1]) / 1024, Double(first[1]) / 1024),
                              met: last[0] >= 10_000 ? Double(last[1]) <= Double(first[1]) * 1.10 : nil))
            }
        }
        if let l = classify?.latency {
            g.append(Goal(text: "detection → session stopped p99 < 5 ms", measured: String(format: "p50 %.2f ms, p99 %.2f ms (%d trials)", l.p50Ms, l.p99Ms, l.trials), met: l.p99Ms < 5))
        } else {
            g.append(Goal(text: "detection → session stopped p99 < 5 ms", measured: "not measured in this run", met: nil))
        }
        return g
    }

    func goalsText() -> String {
        "\n== Goals ==\n" + table(["goal", "measured", "met"], goals().map { [$0.text, $0.measured, $0.met.map { $0 ? "yes" : "NO" } ?? "n/a"] })
    }

    func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self)
    }
}
