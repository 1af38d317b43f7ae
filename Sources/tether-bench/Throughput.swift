import ArgumentParser
import Foundation
import TetherCore
import TetherPipeline
import TetherProbe
#if canImport(Glibc)
import Glibc
#endif

/// Pipeline throughput, the Swift stages alone, and memory: each measured in a child
/// process of its own (one probe loaded at a time, and RSS that is the monitor's own).
struct Helpers {
    var binary: String
    var workloadBin: String
    var cconsumer: String
    var agent: String

    /// Runs a helper command; returns its stdout lines.
    func helper(_ argv: [String]) throws -> [String] {
        let path = "/tmp/tether-bench/helper.out"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { unlink(path) }
        let pid = try Sys.spawn(argv, stdin: Sys.devNull, stdout: fd)
        close(fd)
        let st = Sys.wait(pid).status
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        guard st == 0 else { throw BenchError("\(argv.prefix(2).joined(separator: " ")) exited \(st): \(text)") }
        return text.split(separator: "\n").map(String.init)
    }

    /// Two producers: an open+close loop (the realistic event, but the loop tops out near
    /// 350K events/s here) and failed opens of a missing file (one syscall per event, the
    /// same strings), which can outrun the consumer.
    func throughput(smoke: Bool) throws -> [ThroughputStep] {
        _ = try Sys.ensureUser(agent)
        let series: [(producer: ThroughputStep.Producer, rates: [Double])] = smoke
            ? [(.openClose, [100_000]), (.missing, [1e9])]
            : [(.openClose, [100_000, 250_000, 1e9]), (.missing, [250_000, 500_000, 750_000, 1e9])]
        let secs = smoke ? "0.5" : "3"
        var steps: [ThroughputStep] = []
        for (producer, rates) in series {
            for rate in rates {
                for consumer in ThroughputStep.Consumer.allCases {
                    let missing = producer == .missing
                    let argv = consumer == .c
                        ? [cconsumer, workloadBin, agent, String(Int(rate)), secs] + (missing ? ["missing"] : [])
                        : [binary, "pipeline-run", "--workload", workloadBin, "--user", agent, "--rate", String(Int(rate)), "--seconds", secs]
                            + (missing ? ["--missing"] : []) + (consumer == .swiftJSON ? ["--json"] : []) + (consumer == .swiftLedger ? ["--ledger"] : [])
                    guard let line = try helper(argv).first(where: { $0.hasPrefix("result ") }) else {
                        throw BenchError("\(consumer.rawValue) consumer printed no result")
                    }
                    let f = line.split(separator: " ").dropFirst().map { Double($0) ?? 0 }
                    steps.append(ThroughputStep(consumer: consumer, producer: producer, target: rate, achieved: f[0], events: UInt64(f[1]),
                                                decoded: UInt64(f[2]), drops: UInt64(f[3]), consumerCPU: f[4] / 1e9, seconds: f[5]))
                    log("pipeline \(consumer.rawValue), \(producer.rawValue) at \(rate >= 1e8 ? "full speed" : Report.count(rate) + "/s"): "
                        + "\(Report.count(f[0]))/s, \(UInt64(f[3])) drops")
                }
            }
        }
        return steps
    }

    func classify(smoke: Bool) throws -> ClassifyResult {
        let lines = try helper([binary, "classify-run", "--workload", workloadBin, "--user", agent, "--events", smoke ? "50000" : "2000000",
                                   "--latency-trials", smoke ? "20" : "300"])
        guard let l = lines.first(where: { $0.hasPrefix("{") }) else { throw BenchError("classify-run printed no result") }
        return try JSONDecoder().decode(ClassifyResult.self, from: Data(l.utf8))
    }

    func memory(smoke: Bool) throws -> MemoryResult? {
        let lines = try helper([binary, "memory-run", "--workload", workloadBin, "--user", agent,
                                "--hold", smoke ? "100" : "1000", "--events", smoke ? "100000" : "10000000",
                                "--chunk", smoke ? "50000" : "1000000",
                                "--sessions"] + (smoke ? ["100", "200"] : ["100", "1000", "10000"]))
        guard let l = lines.first(where: { $0.hasPrefix("{") }) else { return nil }
        return try JSONDecoder().decode(MemoryResult.self, from: Data(l.utf8))
    }
}

/// A probe with Tether's whole Swift pipeline behind its reader, as `tether run` has it.
final class TrackedPipeline {
    let probe: Probe
    let reader: EventReader
    let pipeline: Pipeline
    let session = SessionID.random()

    init(ringBytes: UInt32 = 0, json: Bool = true, ledger: Bool = false) throws {
        var o = ProbeOptions()
        if ringBytes > 0 { o.ringBufferBytes = ringBytes }
        probe = try Probe(options: o)
        let pl = benchPipeline(json: json, ledger: ledger).pipeline
        pipeline = pl
        reader = EventReader(probe: probe, sink: { pl.handle(&$0) })
        reader.start()
    }

    /// Runs argv tracked to completion and waits for its events; returns the exit status.
    func run(_ argv: [String]) throws -> Int32 {
        let started = try Launcher.spawn(argv, session: session, probe: probe)
        let st = Launcher.wait(started.pid)
        catchUp()
        return st
    }

    func catchUp() {
        let deadline = Sys.monotonicNs() + 20_000_000_000
        while let s = try? probe.stats(), reader.decoded + reader.corrupt < s.events, Sys.monotonicNs() < deadline {
            Sys.sleep(ms: 2)
        }
    }

    func stop() {
        reader.stop()
        probe.close()
    }
}

func readResult(_ path: String) -> (ns: UInt64, ops: UInt64)? {
    guard let t = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    let f = t.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt64($0) }
    return f.count >= 2 ? (f[0], f[1]) : nil
}

struct PipelineRun: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Internal: a paced tracked open loop through the Swift pipeline.",
                                                    shouldDisplay: false)
    @Option var workload: String
    @Option var user: String
    @Option var rate: Int
    @Option var seconds: Double
    @Flag(help: "Open a file that does not exist (one syscall per event).") var missing = false
    @Flag(help: "Encode every event as JSON too, as `tether run --events` does.") var json = false
    @Flag(help: "Write the session's ledger, as tetherd does.") var ledger = false

    func run() throws {
        let out = "/tmp/tether-bench/results/pipeline.txt"
        unlink(out)
        let t = try TrackedPipeline(json: json, ledger: ledger)
        let cpu0 = Sys.selfCPUNs()
        let st = try t.run([workload, "-u", user, out, "openrate", String(rate), String(seconds)] + (missing ? ["missing"] : []))
        let cpu = Sys.selfCPUNs() - cpu0
        let s = try t.probe.stats()
        let decoded = t.reader.decoded
        t.stop()
        guard st == 0, let r = readResult(out) else { throw BenchError("openrate workload failed (status \(st))") }
        let secs = Double(r.ns) / 1e9
        print("result \(Double(r.ops) / secs) \(s.events) \(decoded) \(s.drops) \(cpu) \(secs)")
    }
}

struct MemoryRun: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Internal: RSS idle, with N tracked processes, and after M events.",
                                                    shouldDisplay: false)
    @Option var workload: String
    @Option var user: String
    @Option var hold: Int
    @Option var events: UInt64
    @Option var chunk: UInt64
    @Option(parsing: .upToNextOption, help: "Sample RSS after this many sessions have started and ended (ascending).") var sessions: [UInt64] = []

    func run() throws {
        let t = try TrackedPipeline()
        Sys.sleep(ms: 1000)
        let me = getpid()
        let idle = Sys.statusKB(me, "VmRSS") ?? 0

        // N sleeping tracked processes: fork events fill the process table.
        let out = "/tmp/tether-bench/results/hold.txt"
        unlink(out)
        let started = try Launcher.spawn([workload, "-u", user, out, "hold", String(hold)], session: t.session, probe: t.probe)
        let deadline = Sys.monotonicNs() + 60_000_000_000
        while readResult(out) == nil && Sys.monotonicNs() < deadline { Sys.sleep(ms: 20) }
        t.catchUp()
        Sys.sleep(ms: 300)
        let tracked = (try? t.probe.tracked().filter { $0.session == t.session }.count) ?? 0
        let table = t.pipeline.table.count
        let trackedKB = Sys.statusKB(me, "VmRSS") ?? 0
        kill(started.pid, SIGKILL)
        _ = Launcher.wait(started.pid)
        Sys.sleep(ms: 300)
        t.catchUp()

        // Events in chunks; RSS after each.
        var samples: [[UInt64]] = []
        let res = "/tmp/tether-bench/results/memory.txt"
        var produced: UInt64 = 0
        while produced < events {
            _ = try t.run([workload, "-u", user, res, "openclose", String(chunk)])
            produced += chunk
            samples.append([t.reader.decoded, Sys.statusKB(me, "VmRSS") ?? 0])
        }
        let drops = (try? t.probe.stats().drops) ?? 0

        // Sessions that start and end: each a tracked /bin/true of its own. What the pipeline
        // keeps of a session must go with it.
        var sessionSamples: [[UInt64]] = []
        var ended: UInt64 = 0
        for target in sessions {
            while ended < target {
                let s = try Launcher.spawn(["/bin/true"], session: SessionID.random(), probe: t.probe)
                _ = Launcher.wait(s.pid)
                ended += 1
            }
            t.catchUp()
            sessionSamples.append([ended, Sys.statusKB(me, "VmRSS") ?? 0])
        }
        t.stop()
        var m = MemoryResult(idleKB: idle, trackedProcesses: tracked, tableEntries: table, trackedKB: trackedKB,
                             samples: samples, drops: drops)
        m.sessionSamples = sessionSamples
        print(String(decoding: try JSONEncoder().encode(m), as: UTF8.self))
    }
}

struct ClassifyRun: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Internal: the Swift stages alone on recorded records, one thread.",
                                                    shouldDisplay: false)
    @Option var workload: String
    @Option var user: String
    @Option var events: Int
    @Option var latencyTrials: Int = 200

    func run() throws {
        // Record raw records of a tracked mix: a fork/exec loop and a open loop.
        var records: [[UInt8]] = []
        let probe = try Probe(onRecord: { buf in records.append(Array(buf)) })
        let session = SessionID.random()
        let out = "/tmp/tether-bench/results/classify.txt"
        for args in [["forkexec", "200"], ["openclose", "5000"], ["connect", "2000"]] {
            let s = try Launcher.spawn([workload, "-u", user, out] + args, session: session, probe: probe)
            var st: Int32 = 0
            while waitpid(s.pid, &st, WNOHANG) == 0 { try probe.poll(timeoutMs: 2) }
            while try probe.poll(timeoutMs: 0) > 0 {}
        }
        probe.close()
        guard !records.isEmpty else { throw BenchError("no records recorded") }

        func time(_ name: String, _ body: ([UInt8]) -> Void) -> Stage {
            var n = 0
            let t0 = Sys.monotonicNs()
            while n < events {
                for r in records { body(r) }
                n += records.count
            }
            return Stage(name: name, eventsPerSec: Double(n) / (Double(Sys.monotonicNs() - t0) / 1e9))
        }
        var sink = 0
        var stages: [Stage] = []
        stages.append(time("decode") { r in
            r.withUnsafeBytes { if let e = try? RecordDecoder.decode($0) { sink &+= Int(e.pid) } }
        })
        let table = ProcessTable()
        stages.append(time("decode + process table") { r in
            r.withUnsafeBytes { if var e = try? RecordDecoder.decode($0) { table.apply(&e); sink &+= Int(e.pid) } }
        })
        let table2 = ProcessTable()
        stages.append(time("decode + process table + JSON encode") { r in
            r.withUnsafeBytes { if var e = try? RecordDecoder.decode($0) { table2.apply(&e); sink &+= EventJSON.encode(e).utf8.count } }
        })
        // recorded: these processes are gone, and /proc must not be asked about them on every pass
        let pl = benchPipeline(json: true, source: .recorded)
        stages.append(time("decode + pipeline (table, classifier) + JSON encode") { r in
            r.withUnsafeBytes {
                if var e = try? RecordDecoder.decode($0) { sink &+= pl.pipeline.handle(&e).count }
            }
        })
        // and tetherd's session ledger written (the recorded mix: forks, execs and exits, opens,
        // connects): its cost per event, and its bytes per million events
        // (each pass through the recording as a session of its own: a session's ledger is closed
        // at its last exit, as in tetherd)
        let withLedger = benchPipeline(json: true, source: .recorded, ledger: true)
        var n = 0, pass: UInt64 = 0
        let t0 = Sys.monotonicNs()
        while n < events {
            pass += 1
            for r in records {
                r.withUnsafeBytes {
                    if var e = try? RecordDecoder.decode($0) { e.session = SessionID(e.session.raw &+ pass); sink &+= withLedger.pipeline.handle(&e).count }
                }
            }
            n += records.count
        }
        let ledgerRate = Double(n) / (Double(Sys.monotonicNs() - t0) / 1e9)
        withLedger.pipeline.ledger?.flush()
        let perMillion = Double(benchLedgerBytes()) / Double(max(n, 1)) * 1e6
        stages.append(Stage(name: String(format: "decode + pipeline + JSON encode + session ledger (%.1f MB of ledger per 1M events)", perMillion / 1e6),
                            eventsPerSec: ledgerRate))
        try? FileManager.default.removeItem(atPath: benchLedgerDirectory)
        // the classifier alone, on the recorded events already decoded (one core)
        let decoded = records.compactMap { r in r.withUnsafeBytes { try? RecordDecoder.decode($0) } }
        let alone = ClassifierBenchmark.run(events: decoded, policy: Policy.default, seconds: 2)
        stages.append(Stage(name: "classifier alone (every rule)", eventsPerSec: alone.eventsPerSecond))
        let latency = try LatencyBench.run(trials: latencyTrials)
        let result = ClassifyResult(recorded: records.count, processed: events, stages: stages,
                                    note: pipelineNote + (sink == 42 || pl.jsonBytes() == 1 ? "" : ""), latency: latency)
        print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
    }
}
