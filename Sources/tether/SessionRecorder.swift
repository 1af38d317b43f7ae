import Foundation
import TetherCore
import TetherProbe
import TetherResponse

/// One session's pipeline, on the reader thread: process table, JSON lines, classifier,
/// findings to the alerts file and stderr, and the response to each finding.
final class SessionRecorder: @unchecked Sendable {
    let table = ProcessTable()
    let output: LineWriter?
    let alerts: LineWriter?
    let session: SessionID
    let classifier: Classifier?
    let responder: Responder?
    private let lock = NSLock()
    private(set) var count: UInt64 = 0
    private(set) var findings: [Finding] = []

    init(session: SessionID, eventsPath: String?, alertsPath: String? = nil, classifier: Classifier? = nil, responder: Responder? = nil) throws {
        self.session = session
        output = try eventsPath.map { try LineWriter(path: $0) }
        alerts = try alertsPath.map { try LineWriter(path: $0) }
        self.classifier = classifier
        self.responder = responder
        table.resolver = { pid in ProcFS.info(pid, session: session) }
    }

    func handle(_ e: inout Event) {
        lock.lock()
        table.apply(&e)
        count += 1
        output?.write(EventJSON.encode(e))
        let found = classifier?.process(e, table: table) ?? []
        lock.unlock()
        report(found)
    }

    /// The session's root, once forked (before it is tracked, so before any of its events).
    func begin(rootPid: Int32, workspace: String) {
        lock.lock()
        classifier?.beginSession(session, rootPid: rootPid, workspace: workspace, agent: nil, time: BootClock.nanoseconds())
        lock.unlock()
    }

    /// Time-based rules (a member outliving the session's root).
    func tick() {
        lock.lock()
        let found = classifier?.tick(now: BootClock.nanoseconds(), table: table) ?? []
        lock.unlock()
        report(found)
    }

    private func report(_ found: [Finding]) {
        for f in found {
            let outcome = responder?.handle(f) ?? "alert"
            lock.lock()
            findings.append(f)
            alerts?.write(FindingJSON.encode(f))
            alerts?.flush()
            lock.unlock()
            complain("\(f.summary) -> \(outcome)")
        }
    }

    /// Says what was lost or broken; true if everything was delivered.
    func finish(probe: Probe, reader: EventReader) -> Bool {
        output?.close()
        alerts?.close()
        var ok = true
        for w in [output, alerts] { if let f = w?.failure { complain(f); ok = false } }
        if let stats = try? probe.stats() {
            if stats.drops > 0 {
                let perCPU = (try? probe.dropsPerCPU()) ?? []
                complain("\(stats.drops) events lost: ring buffer full (per CPU: \(perCPU.map(String.init).joined(separator: " ")))")
                ok = false
            }
            if stats.trackFull > 0 {
                complain("\(stats.trackFull) new processes could not be tracked: tracked-process map full")
                ok = false
            }
        }
        if reader.corrupt > 0 { complain("\(reader.corrupt) corrupt records skipped"); ok = false }
        if let e = reader.pollError { complain("reading events stopped: \(e)"); ok = false }
        if let c = classifier, c.ruleFailures > 0 { complain("\(c.ruleFailures) rule evaluations failed (see above)") }
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
