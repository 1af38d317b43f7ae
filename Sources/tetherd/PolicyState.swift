import Foundation
import TetherCore
import TetherProbe
import TetherResponse

/// Everything the daemon derives from one policy file for the kernel, built whole before it
/// replaces the previous one: the agents' slots, the watch keys that start their sessions,
/// and the guard plan.
struct PolicyState {
    let policy: Policy
    let slots: AgentSlots
    let watch: AgentWatch.Compiled
    let guards: GuardPlan
    /// Homes the sessions' members run with beyond the login users' (`LearnedHomes`), whose
    /// persistence locations the guards hold too.
    var learned: [(path: String, under: String)] = []

    /// `policy` compiled against the kernel as it is now: agents keep the slots the kernel
    /// has for them (pinned by an earlier instance, or from before a reload).
    static func compile(_ policy: Policy, probe: Probe, learned: [(path: String, under: String)] = []) throws -> PolicyState {
        let slots = try AgentWatch.assignSlots(policy, probe: probe)
        return PolicyState(policy: policy, slots: slots, watch: AgentWatch.compile(AgentWatch.selectors(policy, slots: slots)),
                           guards: GuardPlan.compile(policy, slots: slots, learned: learned), learned: learned)
    }

    /// Makes the kernel's slots and watch maps hold this policy (`old`: what is installed
    /// now): slots first, then watch keys (added before stale ones go), then the slots no
    /// key names any more are freed. Returns the slot table as it ended up.
    func installWatch(replacing old: PolicyState?, probe: Probe) throws -> AgentSlots {
        try AgentWatch.writeSlots(slots, policy: policy, probe: probe)
        try AgentWatch.apply(watch, replacing: old?.watch, probe: probe)
        return try AgentWatch.freeSlots(keeping: slots, policy: policy, probe: probe)
    }

    func with(slots final: AgentSlots) -> PolicyState {
        PolicyState(policy: policy, slots: final, watch: watch,
                    guards: final == slots ? guards : GuardPlan.compile(policy, slots: final, learned: learned), learned: learned)
    }

    func with(learned homes: [(path: String, under: String)]) -> PolicyState {
        PolicyState(policy: policy, slots: slots, watch: watch, guards: GuardPlan.compile(policy, slots: slots, learned: homes), learned: homes)
    }
}
