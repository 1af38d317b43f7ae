import XCTest
@testable import TetherCore

/// Which agent gets a process several agents select, and the kernel's agent slots.
final class AgentSelectionTests: XCTestCase {
    let overlapping = policy(agents: """
    agents:
      - name: A
        mode: enforce
        match: {exe: [/opt/agents/agentA]}
      - name: B
        match: {comm: [agentA, tool]}
      - name: C
        match: {uid: [1000]}
      - name: D
        match: {comm: [tool]}
    """)

    /// Most specific first: exe, then cgroup, then comm, then uid; within a kind, file order.
    func testPrecedenceIsExeThenCgroupThenCommThenUid() {
        let p = overlapping
        XCTAssertEqual(p.selectAgent(exe: "/opt/agents/agentA", cgroup: nil, comm: "agentA", uid: 1000)?.name, "A")
        XCTAssertEqual(p.selectAgent(exe: "/tmp/agentA", cgroup: nil, comm: "agentA", uid: 1000)?.name, "B", "a copy elsewhere: by name")
        XCTAssertEqual(p.selectAgent(exe: "/usr/bin/tool", cgroup: nil, comm: "tool", uid: 1000)?.name, "B", "comm before uid; B is first of B, D")
        XCTAssertEqual(p.selectAgent(exe: "/usr/bin/sh", cgroup: nil, comm: "sh", uid: 1000)?.name, "C")
        XCTAssertNil(p.selectAgent(exe: "/usr/bin/sh", cgroup: nil, comm: "sh", uid: 1001))
    }

    func testOverlapsAreNamedWithTheWinner() {
        let w = overlapping.selectorOverlaps()
        XCTAssertTrue(w.contains { $0.hasPrefix("agents A and B") && $0.contains("whose command name 'agentA' B selects: exe comes first, A wins")
            && $0.contains("their modes differ: A (enforce), B (monitor)") }, "\(w)")
        XCTAssertTrue(w.contains { $0.hasPrefix("agents B and D") && $0.contains("both select comm 'tool': B wins (first in the file)") }, "\(w)")
        XCTAssertTrue(w.contains { $0.hasPrefix("agents A and C") && $0.contains("C selects uid 1000") && $0.contains("A wins") }, "\(w)")
        XCTAssertTrue(w.allSatisfy { $0.contains("(at ") }, "each names where the agents are: \(w)")
        XCTAssertEqual(policy(agents: "agents:\n  - name: X\n    match: {comm: [x]}\n  - name: Y\n    match: {comm: [y]}\n").selectorOverlaps(), [])
    }

    /// An agent keeps its slot across reloads and restarts; a new one takes a free slot; a
    /// gone agent's slot is kept, retired, while a session uses it, and freed otherwise.
    func testSlotsAreStableAcrossReloads() throws {
        let first = try AgentSlots.assign(overlapping, kernel: [:], inUse: [])
        XCTAssertEqual(first.slots[0]?.name, "default")
        XCTAssertEqual(["A", "B", "C", "D"].map { first.slot(of: $0) }, [1, 2, 3, 4])
        // B and C gone, E new; a session still runs on C's slot
        let next = policy(agents: "agents:\n  - name: E\n    match: {comm: [e]}\n  - name: A\n    match: {comm: [a]}\n  - name: D\n    match: {comm: [d]}\n")
        let second = try AgentSlots.assign(next, kernel: first.slots, inUse: [0, 3])
        XCTAssertEqual(second.slot(of: "A"), 1, "A keeps its slot though it moved in the file")
        XCTAssertEqual(second.slot(of: "D"), 4)
        XCTAssertEqual(second.slot(of: "E"), 2, "the lowest free slot: B's, which no session uses")
        XCTAssertEqual(second.slots[3], AgentSlots.Slot(name: "C", retired: true))
        XCTAssertNil(second.slot(of: "C"))
        XCTAssertEqual(second.agentName(3, defaults: "default"), "default", "C's running sessions go on under the defaults")
        XCTAssertEqual(second.agentName(99, defaults: "default"), "default")
        // C comes back: it gets its old slot again
        let third = try AgentSlots.assign(overlapping, kernel: second.slots, inUse: [3])
        XCTAssertEqual(third.slot(of: "C"), 3)
        XCTAssertEqual(third.slots[3]?.retired, false)
    }

    func testTooManyAgentsOrLongNamesAreErrors() {
        let many = "agents:\n" + (0..<AgentSlots.capacity).map { "  - name: a\($0)\n    match: {comm: [a\($0)]}\n" }.joined()
        XCTAssertThrowsError(try Policy.parse("version: 1\n" + many, file: "many.yaml")) { e in
            XCTAssertTrue("\(e)".contains("the kernel has room for 255"), "\(e)")
        }
        let long = String(repeating: "n", count: AgentSlots.nameLimit + 1)
        XCTAssertThrowsError(try Policy.parse("version: 1\nagents:\n  - name: \(long)\n    match: {comm: [x]}\n", file: "long.yaml")) { e in
            XCTAssertTrue("\(e)".contains("long.yaml:3:11: agent name is 56 bytes"), "\(e)")
        }
    }
}
