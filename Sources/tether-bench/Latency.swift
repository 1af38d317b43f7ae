import Foundation
import TetherCore
import TetherPipeline
import TetherProbe
import TetherResponse

/// Detection to containment: an agent reads /etc/shadow (escape.credentials, set to `stop`
/// here; no kernel guard acts on a read, so this is the user-space path end to end); the
/// time from that open's return (kernel timestamp) to the moment every member of the
/// session has been sent SIGSTOP, over many trials.
struct LatencyResult: Codable {
    var trials: Int
    var p50Ms: Double
    var p99Ms: Double
    var maxMs: Double
}

enum LatencyBench {
    static func run(trials: Int) throws -> LatencyResult {
        let policy = try Policy.parse("version: 1\ndefaults:\n  mode: enforce\n  rules:\n    escape.credentials: {action: stop}\n",
                                      file: "<latency benchmark>")
        let probe = try Probe()
        defer { probe.close() }
        let control = SessionControl(probe: probe)
        let responder = Responder(control: control)
        let pipeline = Pipeline(policy: policy, source: .live, responder: responder) { _ in }
        pipeline.log = { _ in }
        let reader = EventReader(probe: probe, sink: { pipeline.handle(&$0) })
        reader.start()
        defer { reader.stop() }
        for i in 0..<trials {
            let session = SessionID.random()
            let s = try Launcher.spawn(["/bin/sh", "-c", "cat /etc/shadow > /dev/null; sleep 10"], session: session,
                                       probe: probe, mode: .enforce)
            let deadline = Date().addingTimeInterval(3)
            while responder.latencies.count <= i && Date() < deadline { usleep(200) }
            try control.kill(session)
            _ = Launcher.wait(s.pid)
            guard responder.latencies.count > i else { throw BenchError("latency trial \(i): the session was not stopped within 3 s") }
        }
        let ms = responder.latencies.map { Double($0) / 1e6 }.sorted()
        func pct(_ p: Double) -> Double { ms[min(ms.count - 1, Int((Double(ms.count) * p).rounded(.up)) - 1)] }
        return LatencyResult(trials: ms.count, p50Ms: pct(0.50), p99Ms: pct(0.99), maxMs: ms.last ?? 0)
    }
}
