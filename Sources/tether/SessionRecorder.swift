import Foundation
import TetherCore
import TetherExport
import TetherPipeline
import TetherProbe
import TetherResponse

/// A session `tether run` or `tether watch` follows with probes of its own: the one
/// pipeline, with the session's events as JSON lines (Tether's or OCSF's) and its alerts
/// (the same records tetherd's sinks write) to files, each alert also as a line on stderr.
final class SessionRecorder: @unchecked Sendable {
    let pipeline: Pipeline
    let output: LineWriter?
    let alerts: LineWriter?
    let format: AlertFormat
    let session: SessionID
    /// Alerts come from the reader thread (the rules) and from `RunUpkeep`'s (Tether's own).
    private let alertLock = NSLock()

    init(session: SessionID, policy: Policy, slots: AgentSlots? = nil, eventsPath: String?, alertsPath: String? = nil,
         responder: Responder? = nil, protectedPids: Set<Int32> = []) throws {
        self.session = session
        let events = try eventsPath.map { try EventFormat.parse(destination: $0) }
        let eventFormat = events?.format ?? .tether
        let output = try events.map { try LineWriter(path: $0.path) }
        let destination = try alertsPath.map { try AlertFormat.parse(destination: $0) }
        let format = destination?.format ?? .tether
        let alerts = try destination.map { try LineWriter(path: $0.path) }
        self.output = output
        self.alerts = alerts
        self.format = format
        let lock = alertLock
        pipeline = Pipeline(policy: policy, slots: slots, source: .live, responder: responder, protectedPids: protectedPids) { a in
            lock.lock()
            alerts?.write(format.encode(a))
            alerts?.flush()
            lock.unlock()
            complain(a.summary)
        }
        pipeline.log = { complain($0) }
        if let output { pipeline.onEvent = { output.write(eventFormat.encode($0)) } }
    }

    func handle(_ e: inout Event) { pipeline.handle(&e) }

    /// An alert of Tether's own (not a rule's): to the alerts file and stderr.
    func raise(_ a: AlertRecord) {
        alertLock.lock()
        alerts?.write(format.encode(a))
        alerts?.flush()
        alertLock.unlock()
        complain(a.summary)
    }

    /// Time-based rules (a member outliving the session's root).
    func tick() { pipeline.tick() }

    /// Says what was lost or broken; true if everything was delivered.
    func finish(probe: Probe, reader: EventReader) -> Bool {
        output?.close()
        alerts?.close()
        var ok = true
        for w in [output, alerts] { if let f = w?.failure { complain(f); ok = false } }
        if let stats = try? probe.stats() {
            if stats.lost > 0 {
                let perCPU = (try? probe.dropsPerCPU()) ?? []
                complain("\(stats.lost) events lost: ring buffer full (per CPU: \(perCPU.map(String.init).joined(separator: " ")))")
                ok = false
            }
            if stats.trackFull > 0 {
                complain("\(stats.trackFull) new processes could not be tracked: tracked-process map full")
                ok = false
            }
        }
        if reader.corrupt > 0 { complain("\(reader.corrupt) corrupt records skipped"); ok = false }
        if let e = reader.pollError { complain("reading events stopped: \(e)"); ok = false }
        let failures = pipeline.ruleFailures
        if failures > 0 { complain("\(failures) rule evaluations failed (see above)") }
        return ok
    }
}

/// Loads the policy `tether run` applies: the file given, else /etc/tether/policy.yaml if
/// installed, else the built-in default.
func loadRunPolicy(_ path: String?) throws -> Policy {
    if let path { return try Policy.load(path: path) }
    let installed = "/etc/tether/policy.yaml"
    if FileManager.default.fileExists(atPath: installed) { return try Policy.load(path: installed) }
    return Policy.default
}
