import ArgumentParser
import Foundation
import TetherCore
import TetherLedger
import TetherPipeline
import TetherProbe
#if canImport(Glibc)
import Glibc
#endif

/// What Tether does with each event: decode (in EventReader), then the one pipeline every
/// front end uses (process table, classifier with the default policy, alerts discarded),
/// which is tetherd's; with `json`, also JSON encoding of every event, which makes it
/// `tether run --events`'s (the tracked configuration). The output is discarded.
func benchPipeline(json: Bool = true, source: Pipeline.Source = .live, ledger: Bool = false) -> (pipeline: Pipeline, jsonBytes: () -> UInt64) {
    let pl = Pipeline(policy: Policy.default, source: source, responder: nil) { _ in }
    pl.log = { _ in }
    if ledger, let book = try? LedgerBook(benchLedgerOptions()) { pl.attach(ledger: book) }
    final class Count: @unchecked Sendable { var bytes: UInt64 = 0 }
    let c = Count()
    if json { pl.onEvent = { c.bytes &+= UInt64(EventJSON.encode($0).utf8.count) } }
    return (pl, { c.bytes })
}

/// The ledgers of the benchmark's sessions, as tetherd keeps them, capped high enough never
/// to be reached here (the cost measured is the writing), removed at the start of each use.
let benchLedgerDirectory = "/tmp/tether-bench/ledgers"
func benchLedgerOptions() -> LedgerBook.Options {
    try? FileManager.default.removeItem(atPath: benchLedgerDirectory)
    var o = LedgerBook.Options(directory: benchLedgerDirectory)
    o.capBytes = 4 << 30
    o.keepSeconds = 0
    o.keepBytes = 0
    return o
}

/// Bytes the benchmark's ledgers hold.
func benchLedgerBytes() -> UInt64 {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: benchLedgerDirectory)) ?? []
    return names.reduce(0) { sum, n in
        var st = stat()
        return sum + (stat(benchLedgerDirectory + "/" + n + "/ledger.jsonl", &st) == 0 ? UInt64(st.st_size) : 0)
    }
}

let pipelineNote = "tracked = decode + the pipeline (process table, classifier with the default policy, every rule) + JSON encode"

enum ServeMode: String, ExpressibleByArgument, CaseIterable {
    /// confined: tether, and the tracked workloads start under the Landlock domain and seccomp
    /// filter `tether run --mode enforce` gives a session (built-in policy, workspace the bench dir).
    /// ledger: tether, with tetherd's session ledger written.
    case none, floor, tether, confined, ledger
}

/// The monitor under test, in a process of its own so its CPU time and peak RSS are its
/// own. It spawns the workloads it is asked to (tracked from their first instruction, or
/// not) and answers with what it saw. Protocol, one line each, tab separated:
///   -> "run" TRACKED(0|1) ARGV...      <- "done" STATUS DECODED KERNEL_EVENTS DROPS CPU_NS RSS_KB CORRUPT
///   -> "quit"                          <- "bye" PEAK_RSS_KB (VmHWM: its own, not its workloads')
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Internal: run one monitor configuration for the harness.",
                                                    shouldDisplay: false)

    @Option var mode: ServeMode = .none
    @Option(help: "Ring buffer bytes (0 = Tether's default).") var ringBytes: UInt32 = 0

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        var probe: Probe?
        var reader: EventReader?
        var pipeline: Pipeline?
        var confinement: Confinement?
        let session = SessionID.random()
        do {
            switch mode {
            case .none: break
            case .floor:
                var o = ProbeOptions()
                o.floorOnly = true
                probe = try Probe(options: o)
            case .tether, .confined, .ledger:
                if mode == .confined {
                    var agent = Policy.default.defaults
                    agent.mode = .enforce
                    confinement = try Confinement(ConfinementPlan.compile(agent, workspace: "/tmp/tether-bench", homes: [], uid: 0))
                }
                var o = ProbeOptions()
                if ringBytes > 0 { o.ringBufferBytes = ringBytes }
                let p = try Probe(options: o)
                let pl = benchPipeline(ledger: mode == .ledger).pipeline
                let r = EventReader(probe: p, sink: { pl.handle(&$0) })
                r.start()
                probe = p
                reader = r
                pipeline = pl
            }
        } catch {
            writeLine(1, "error\t\(error)")
            throw ExitCode(70)
        }
        writeLine(1, "ready\t\(probe.map { $0.hooks().attached } ?? 0)")
        let input = LineReader(fd: 0)
        while let line = input.readLine() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            if f.first == "quit" { break }
            guard f.count >= 3, f[0] == "run" else {
                writeLine(1, "error\tbad command: \(line)")
                continue
            }
            let tracked = f[1] == "1"
            let argv = Array(f[2...])
            let stats0 = (try? probe?.stats()) ?? nil
            let decoded0 = reader?.decoded ?? 0
            let corrupt0 = reader?.corrupt ?? 0
            let cpu0 = Sys.selfCPUNs()
            var status: Int32
            do {
                if tracked, let probe {
                    let started = try Launcher.spawn(argv, session: session, probe: probe, confine: confinement)
                    status = Launcher.wait(started.pid)
                } else {
                    let pid = try Sys.spawn(argv)
                    status = Sys.wait(pid).status
                }
            } catch {
                writeLine(1, "error\t\(error)")
                continue
            }
            // Let the reader catch up with everything the kernel delivered.
            var kernelEvents: UInt64 = 0, drops: UInt64 = 0
            if let probe, let reader, let s0 = stats0 {
                let deadline = Sys.monotonicNs() + 10_000_000_000
                while true {
                    let s = (try? probe.stats()) ?? s0
                    kernelEvents = s.events - s0.events
                    drops = s.drops - s0.drops
                    if reader.decoded + reader.corrupt - decoded0 - corrupt0 >= kernelEvents || Sys.monotonicNs() > deadline { break }
                    Sys.sleep(ms: 2)
                }
            }
            let cpu = Sys.selfCPUNs() - cpu0
            let decoded = (reader?.decoded ?? 0) - decoded0
            let corrupt = (reader?.corrupt ?? 0) - corrupt0
            let rss = Sys.statusKB(getpid(), "VmRSS") ?? 0
            writeLine(1, "done\t\(status)\t\(decoded)\t\(kernelEvents)\t\(drops)\t\(cpu)\t\(rss)\t\(corrupt)")
        }
        reader?.stop()
        _ = pipeline?.events
        probe?.close()
        writeLine(1, "bye\t\(Sys.statusKB(getpid(), "VmHWM") ?? 0)")
    }
}

/// The coordinator's handle on a `serve` child.
final class ServerProcess {
    let pid: pid_t
    private let toChild: Int32
    private let fromChild: LineReader
    let hooks: Int

    struct Sample {
        var status: Int32
        var decoded: UInt64
        var kernelEvents: UInt64
        var drops: UInt64
        var cpuNs: UInt64
        var rssKB: UInt64
        var corrupt: UInt64
    }

    init(binary: String, mode: ServeMode, ringBytes: UInt32 = 0) throws {
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0 else { throw BenchError("pipe: \(errno)") }
        for fd in inPipe + outPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        pid = try Sys.spawn([binary, "serve", "--mode", mode.rawValue, "--ring-bytes", String(ringBytes)],
                            stdin: inPipe[0], stdout: outPipe[1])
        close(inPipe[0])
        close(outPipe[1])
        toChild = inPipe[1]
        fromChild = LineReader(fd: outPipe[0])
        guard let first = fromChild.readLine() else {
            _ = Sys.wait(pid)
            throw BenchError("the \(mode) monitor exited before it was ready")
        }
        let f = first.split(separator: "\t").map(String.init)
        guard f.first == "ready" else {
            _ = Sys.wait(pid)
            throw BenchError("the \(mode) monitor failed to start: \(f.dropFirst().joined(separator: " "))")
        }
        hooks = Int(f.count > 1 ? f[1] : "0") ?? 0
    }

    func run(_ argv: [String], tracked: Bool) throws -> Sample {
        writeLine(toChild, (["run", tracked ? "1" : "0"] + argv).joined(separator: "\t"))
        guard let line = fromChild.readLine() else { throw BenchError("monitor process \(pid) died") }
        let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard f.first == "done", f.count >= 8 else { throw BenchError("monitor: \(f.dropFirst().joined(separator: " "))") }
        let n = f.dropFirst(2).map { UInt64($0) ?? 0 }
        return Sample(status: Int32(f[1]) ?? 127, decoded: n[0], kernelEvents: n[1], drops: n[2], cpuNs: n[3],
                      rssKB: n[4], corrupt: n[5])
    }

    /// Stops the monitor; returns its peak RSS (KiB). The monitor reports its own VmHWM:
    /// wait4's ru_maxrss would be the largest of it and every workload it waited for.
    func stop() -> UInt64 {
        writeLine(toChild, "quit")
        var peak: UInt64 = 0
        while let l = fromChild.readLine() {
            let f = l.split(separator: "\t")
            if f.first == "bye" {
                peak = f.count > 1 ? UInt64(f[1]) ?? 0 : 0
                break
            }
        }
        close(toChild)
        close(fromChild.fd)
        _ = Sys.wait(pid)
        return peak
    }
}
