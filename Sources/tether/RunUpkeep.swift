import Foundation
import TetherCore
import TetherExport
import TetherProbe
import TetherResponse

/// What `tether run` keeps doing beside its session, once a second on a queue of its own:
/// the homes the session's members are exec'd with (`LearnedHomes`) get their persistence
/// locations guarded in the kernel as soon as they are learned (a new plan replaces the one
/// in force, never with fewer guards in between), and every few seconds what the kernel
/// relies on is checked (`GuardPlan.checkKernel`): found changed, it is put back and raised
/// as a critical `tether.guard_tampered`; and where the TCP deputies listen is looked up
/// again (`GuardPlan.refreshListening`), a new plan refusing their ports when it moved.
final class RunUpkeep: @unchecked Sendable {
    private let probe: Probe
    private let policy: Policy
    private let slots: AgentSlots
    private let launchHomes: [(path: String, under: String)]
    private let learned: LearnedHomes
    private let quarantine: Quarantine
    private let raise: (AlertRecord) -> Void
    private var plan: GuardPlan
    private var guarded = 0
    private var ticks = 0
    private let queue = DispatchQueue(label: "tether-run-upkeep")
    private var timer: DispatchSourceTimer?

    init(probe: Probe, policy: Policy, slots: AgentSlots, plan: GuardPlan, launchHomes: [(path: String, under: String)],
         learned: LearnedHomes, quarantine: Quarantine, raise: @escaping (AlertRecord) -> Void) {
        self.probe = probe
        self.policy = policy
        self.slots = slots
        self.plan = plan
        self.launchHomes = launchHomes
        self.learned = learned
        self.quarantine = quarantine
        self.raise = raise
    }

    func start() {
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + 1, repeating: 1)
        t.setEventHandler { [self] in tick() }
        t.resume()
        timer = t
    }

    /// Stops the timer and waits out a tick in progress.
    func stop() {
        timer?.cancel()
        queue.sync {}
    }

    private func tick() {
        ticks += 1
        var listeners: (changed: Bool, note: String?) = (false, nil)
        if ticks % 5 == 0 {
            for msg in plan.checkKernel(probe) {
                raise(AlertRecord(rule: "tether.guard_tampered", severity: .critical, message: msg, action: "alert"))
            }
            listeners = GuardPlan.refreshListening(policy, probe: probe)
        }
        let snap = learned.snapshot()
        guard snap.generation != guarded || listeners.changed else { return }
        let homesMoved = snap.generation != guarded
        guarded = snap.generation
        let next = GuardPlan.compile(policy, slots: slots, learned: launchHomes + snap.homes)
        do {
            let g = try next.install(probe)
            quarantine.watch(next.preimaged)
            plan = next
            if homesMoved { complain(GuardPlan.learnedHomesNote(snap.homes.count, dropped: snap.dropped, g, whose: "the session's")) }
            if let note = listeners.note { complain(note) }
        } catch {
            complain("a new guard plan (the homes the session's members run with, the TCP deputies' ports) could not be installed (the rules still judge them): \(error)")
        }
    }
}
