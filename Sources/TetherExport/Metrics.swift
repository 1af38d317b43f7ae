import Foundation

/// Prometheus text exposition (version 0.0.4) of the daemon's counters.
public struct MetricsSnapshot: Sendable {
    public var events: UInt64 = 0
    public var lostEvents: UInt64 = 0
    public var corruptRecords: UInt64 = 0
    public var sessions = 0
    public var trackedProcesses = 0
    public var findingsByRule: [String: UInt64] = [:]
    public var reloads: UInt64 = 0
    public var rejectedReloads: UInt64 = 0
    public var sinks: [SinkHealth] = []
    public init() {}

    public func text() -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { out += "\(name)\(labels) \(value)\n" }
        }
        func label(_ k: String, _ v: String) -> String {
            "{\(k)=\"" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n") + "\"}"
        }
        metric("tether_events_total", "counter", "Kernel events received.", [("", "\(events)")])
        metric("tether_events_lost_total", "counter", "Kernel events lost (ring buffer full).", [("", "\(lostEvents)")])
        metric("tether_corrupt_records_total", "counter", "Ring buffer records that failed to decode.", [("", "\(corruptRecords)")])
        metric("tether_sessions", "gauge", "Agent sessions with live processes.", [("", "\(sessions)")])
        metric("tether_tracked_processes", "gauge", "Processes in the kernel's tracked map.", [("", "\(trackedProcesses)")])
        metric("tether_findings_total", "counter", "Alerts raised, by rule.",
               findingsByRule.keys.sorted().map { (label("rule", $0), "\(findingsByRule[$0]!)") })
        metric("tether_policy_reloads_total", "counter", "Policy reloads that took effect.", [("", "\(reloads)")])
        metric("tether_policy_rejected_total", "counter", "Policy reloads rejected (old policy kept).", [("", "\(rejectedReloads)")])
        metric("tether_sink_up", "gauge", "1 if the sink is delivering.", sinks.map { (label("sink", $0.name), $0.state == "up" ? "1" : "0") })
        metric("tether_sink_queue", "gauge", "Alerts waiting in the sink's queue.", sinks.map { (label("sink", $0.name), "\($0.queued)") })
        metric("tether_sink_sent_total", "counter", "Alerts the sink delivered.", sinks.map { (label("sink", $0.name), "\($0.sent)") })
        metric("tether_sink_dropped_total", "counter", "Alerts the sink could not deliver.", sinks.map { (label("sink", $0.name), "\($0.dropped)") })
        return out
    }
}
