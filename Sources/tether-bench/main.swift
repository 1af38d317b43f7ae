import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `make bench` / `make bench-smoke`: workloads under each monitoring configuration,
/// pipeline throughput, memory. See BENCHMARKS.md.
struct TetherBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tether-bench",
        abstract: "Tether's benchmarks: slowdown of workloads under each monitor, pipeline throughput, memory.",
        subcommands: [Bench.self, Serve.self, PipelineRun.self, MemoryRun.self, ClassifyRun.self],
        defaultSubcommand: Bench.self)
}

/// kernel.bpf_stats_enabled adds clock reads to every BPF run: off while measuring.
private let bpfStatsPath = "/proc/sys/kernel/bpf_stats_enabled"
private var savedBPFStats: CChar = 0x30

private func restoreBPFStats() {
    let fd = open(bpfStatsPath, O_WRONLY)
    if fd >= 0 { var c = savedBPFStats; _ = write(fd, &c, 1); close(fd) }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the benchmark suite and print the results (root).")

    @Flag(help: "Tiny counts, two rounds, Tether configurations only: checks the harness works (CI).")
    var smoke = false
    @Option(help: "Rounds (each configuration once per round).") var rounds: Int?
    @Option(help: "Comma-separated monitors: none,floor,tether,confined,ledger,auditd,bpftrace.") var monitors: String?
    @Option(help: "Comma-separated workloads: openclose,forkexec,connect,dev.") var workloads: String?
    @Option(help: "Comma-separated sections: slowdown,pipeline,classify,memory.") var sections: String?
    @Option(help: "Multiply workload sizes by this.") var scale: Double = 1
    @Option(help: "Directory with the harness's files (workload scripts, audit rules, bpftrace script).") var benchDir = "bench"
    @Option(help: "Directory of the built C helpers and the report.") var buildDir = "build/bench"
    @Option(help: "Replace the generated block of this Markdown file with the results, and put the chart next to it.")
    var updateDoc: String?
    @Option(help: "Do not measure: render this results.json (an earlier run's) into --update-doc.") var render: String?

    func run() throws {
        if let render {
            let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: render)))
            guard let doc = updateDoc else { print(report.goalsText()); return }
            try report.updateMarkdown(doc, chartPath: "bench/slowdown.svg")
            log("rendered \(render) into \(doc)")
            return
        }
        guard geteuid() == 0 else {
            log("benchmarks load BPF programs, start auditd and switch users: run as root")
            throw ExitCode(77)
        }
        signal(SIGPIPE, SIG_IGN)
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let workloadBin = buildDir + "/tether-workload"
        guard access(workloadBin, X_OK) == 0 else { throw BenchError("\(workloadBin) missing: build it with make bench") }
        let bench = URL(fileURLWithPath: benchDir).standardizedFileURL.path

        // Measuring conditions: no BPF run-time stats, no audit slow path for new processes.
        if let v = Sys.readSysctl(bpfStatsPath), let c = v.utf8CString.first { savedBPFStats = c }
        _ = Sys.writeSysctl(bpfStatsPath, "0")
        atexit { restoreBPFStats() }
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { s in restoreBPFStats(); _exit(128 + s) }
        }
        AuditdPeer.neutralize()

        let f = smoke ? 0.05 * scale : scale
        func n(_ x: Double, _ minimum: Int) -> String { String(max(minimum, Int(x * f))) }
        var all = [
            Workload(key: "openclose", title: "open/close loop", args: ["openclose", n(300_000, 1000)], unit: "open+close pairs"),
            Workload(key: "forkexec", title: "fork/exec loop", args: ["forkexec", n(1500, 20)], unit: "fork+exec+wait of /bin/true"),
            Workload(key: "connect", title: "loopback TCP connect loop", args: ["connect", n(40_000, 200)], unit: "connect+accept+close on 127.0.0.1"),
            Workload(key: "dev", title: "developer workload", args: ["run", "sh", bench + "/devwork.sh", "proj", n(120, 6)],
                     unit: "git init/add/commit/diff/log + generated C project built twice with make -j2"),
        ]
        if let w = workloads {
            let keys = w.split(separator: ",").map(String.init)
            all = all.filter { keys.contains($0.key) }
        }
        var mons: [Monitor] = smoke ? [.none, .floor, .tether, .confined, .ledger] : Monitor.allCases
        if let m = monitors {
            mons = try m.split(separator: ",").map { s in
                guard let v = Monitor(rawValue: String(s)) else { throw ValidationError("unknown monitor \(s)") }
                return v
            }
        }
        if !mons.contains(.none) { mons.insert(.none, at: 0) }
        let secs = Set((sections ?? "slowdown,pipeline,classify,memory").split(separator: ",").map(String.init))
        let nRounds = rounds ?? (smoke ? 2 : 5)

        let t0 = Sys.monotonicNs()
        var report = Report(machine: Machine.describe(), smoke: smoke, rounds: nRounds, workloads: all)
        var failed: [String] = []

        if secs.contains("slowdown") {
            let suite = Suite(SuiteOptions(rounds: nRounds, monitors: mons, workloads: all, binary: binary,
                                           workloadBin: workloadBin, benchDir: bench))
            try suite.run()
            report.records = suite.records
            report.skipped = suite.skipped
            failed += suite.problems
            print(report.slowdownText())
            failed += report.sanityProblems()
        }
        let helpers = Helpers(binary: binary, workloadBin: workloadBin, cconsumer: buildDir + "/tether-cconsumer",
                              agent: "tether-agent")
        if secs.contains("pipeline") {
            report.pipeline = try helpers.throughput(smoke: smoke)
            print(report.pipelineText())
            failed += report.pipelineProblems()
        }
        if secs.contains("classify") {
            report.classify = try helpers.classify(smoke: smoke)
            print(report.classifyText())
        }
        if secs.contains("memory") {
            report.memory = try helpers.memory(smoke: smoke)
            print(report.memoryText())
            if report.memory == nil { failed.append("memory measurement failed") }
        }
        report.elapsed = Double(Sys.monotonicNs() - t0) / 1e9
        print(report.goalsText())
        try? FileManager.default.createDirectory(atPath: buildDir, withIntermediateDirectories: true)
        try report.json().write(to: URL(fileURLWithPath: buildDir + "/results.json"))
        let svg = report.svg()
        try svg.write(toFile: buildDir + "/slowdown.svg", atomically: true, encoding: .utf8)
        if let doc = updateDoc {
            let chart = URL(fileURLWithPath: doc).deletingLastPathComponent().appendingPathComponent("bench/slowdown.svg").path
            try svg.write(toFile: chart, atomically: true, encoding: .utf8)
            try report.updateMarkdown(doc, chartPath: "bench/slowdown.svg")
            log("updated \(doc) and \(chart)")
        }
        log(String(format: "finished in %.0f s; results in %@/results.json", report.elapsed, buildDir))
        if !failed.isEmpty {
            for p in failed { log("problem: \(p)") }
            throw ExitCode(1)
        }
    }
}

TetherBench.main()
