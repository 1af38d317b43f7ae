import TetherCore
import XCTest

/// The pure parts of the event pipeline: process table, path arithmetic, JSON.
final class PipelineModelTests: XCTestCase {
    let s = SessionID(0xabc)

    func ev(_ kind: EventKind, pid: Int32, ppid: Int32 = 1, time: UInt64, _ edit: (inout Event) -> Void = { _ in }) -> Event {
        var e = Event(kind: kind, time: time, pid: pid, ppid: ppid, session: s, comm: "c")
        edit(&e)
        return e
    }

    func testProcessTableFollowsForkExecExit() {
        let t = ProcessTable()
        var exec = ev(.exec, pid: 10, time: 1) { $0.path = "/bin/agent"; $0.argv = ["agent", "-x"]; $0.cwd = "/w" }
        t.apply(&exec)
        XCTAssertEqual(exec.exe, "/bin/agent")
        var fork = ev(.fork, pid: 10, time: 2) { $0.target = 11; $0.result = 11 }
        t.apply(&fork)
        XCTAssertEqual(t.lookup(11)?.exe, "/bin/agent", "a child starts as its parent's image")
        XCTAssertEqual(t.lookup(11)?.ppid, 10)
        var exec2 = ev(.exec, pid: 11, ppid: 10, time: 3) { $0.path = "/usr/bin/git"; $0.argv = ["git", "push"]; $0.cwd = "/w" }
        t.apply(&exec2)
        var open = ev(.open, pid: 11, ppid: 10, time: 4)
        t.apply(&open)
        XCTAssertEqual(open.exe, "/usr/bin/git")
        XCTAssertEqual(t.ancestry(11).map(\.exe), ["/usr/bin/git", "/bin/agent"])
        XCTAssertEqual(t.ancestry(11).first?.argv, ["git", "push"])
        XCTAssertEqual(t.members(of: s).map(\.pid), [10, 11])
        var exit = ev(.exit, pid: 11, ppid: 10, time: 5) { $0.exitCode = 0 }
        t.apply(&exit)
        XCTAssertEqual(exit.exe, "/usr/bin/git")
        XCTAssertEqual(t.members(of: s).map(\.pid), [10])
        XCTAssertEqual(t.lookup(11)?.exited, true, "exited processes stay visible for late events")
    }

    func testPidReuseReplacesTheOldRecord() {
        let t = ProcessTable()
        var e1 = ev(.exec, pid: 20, time: 1) { $0.path = "/old" }
        t.apply(&e1)
        var x = ev(.exit, pid: 20, time: 2)
        t.apply(&x)
        var parent = ev(.exec, pid: 30, time: 3) { $0.path = "/new-parent" }
        t.apply(&parent)
        var fork = ev(.fork, pid: 30, time: 4) { $0.target = 20; $0.result = 20 }
        t.apply(&fork)
        XCTAssertEqual(t.lookup(20)?.exe, "/new-parent")
        XCTAssertEqual(t.lookup(20)?.exited, false)
        XCTAssertEqual(t.lookup(20)?.startTime, 4)
    }

    func testExitedRecordsAreBounded() {
        let t = ProcessTable(retainExited: 3)
        for pid in Int32(100)..<110 {
            var e = ev(.exec, pid: pid, time: UInt64(pid)) { $0.path = "/p\(pid)" }
            t.apply(&e)
            var x = ev(.exit, pid: pid, time: UInt64(pid) + 1000)
            t.apply(&x)
        }
        XCTAssertNil(t.lookup(100))
        XCTAssertNotNil(t.lookup(109))
        XCTAssertEqual(t.count, 0)
    }

    func testUnknownProcessIsResolvedOnce() {
        let t = ProcessTable()
        var calls = 0
        t.resolver = { pid in calls += 1; return ProcessRecord(pid: pid, ppid: 1, session: SessionID(0), exe: "/from/proc") }
        var a = ev(.open, pid: 40, time: 1)
        t.apply(&a)
        var b = ev(.open, pid: 40, time: 2)
        t.apply(&b)
        XCTAssertEqual(a.exe, "/from/proc")
        XCTAssertEqual(b.exe, "/from/proc")
        XCTAssertEqual(calls, 1)
        XCTAssertEqual(t.lookup(40)?.session, s, "the event's session wins over a guess")
    }

    func testPaths() {
        XCTAssertEqual(Paths.join("/w/a", "../b/./c"), "/w/b/c")
        XCTAssertEqual(Paths.join("/w", "/etc//passwd"), "/etc/passwd")
        XCTAssertEqual(Paths.join("/", "../../x"), "/x")
        XCTAssertEqual(Paths.join("/w", ""), "/w")
        XCTAssertEqual(Paths.normalize("/etc/cron.d"), "/etc/cron.d")
        XCTAssertEqual(Paths.normalize("/a/b/"), "/a/b")
        XCTAssertEqual(Paths.normalize("/.."), "/")
        XCTAssertEqual(Paths.normalize("/a/.b/..c/..."), "/a/.b/..c/...")
        XCTAssertEqual(Paths.normalize("relative/./x"), "/relative/x")
        // an absolute path inside a chroot: under its root, `..` stopping there
        XCTAssertEqual(Paths.under(root: "/etc", "/cron.d/x"), "/etc/cron.d/x")
        XCTAssertEqual(Paths.under(root: "/srv/jail", "/../../etc/x"), "/srv/jail/etc/x")
        XCTAssertEqual(Paths.under(root: "/srv/jail", "/"), "/srv/jail")
        XCTAssertEqual(Paths.under(root: "/", "/etc//x"), "/etc/x")
        XCTAssertTrue(Paths.isWithin("/home/a/x", "/home/a"))
        XCTAssertTrue(Paths.isWithin("/home/a", "/home/a"))
        XCTAssertFalse(Paths.isWithin("/home/ab", "/home/a"))
        XCTAssertTrue(Paths.isWithin("/x", "/"))
    }

    /// The byte-level normalizer against the plain definition (split on "/", drop empty
    /// and "." components, ".." drops the one before), on random paths.
    func testPathNormalizationMatchesItsDefinition() {
        func reference(_ path: String) -> String {
            var parts: [Substring] = []
            for c in path.split(separator: "/", omittingEmptySubsequences: true) {
                if c == "." { continue }
                if c == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
                parts.append(c)
            }
            return "/" + parts.joined(separator: "/")
        }
        let pieces = ["a", "bc", ".", "..", "", "...", ".x", "x.", "é", "/"]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            let n = Int.random(in: 0...7, using: &rng)
            let path = (0..<n).map { _ in pieces.randomElement(using: &rng)! }.joined(separator: "/")
            let base = "/" + (0..<Int.random(in: 0...3, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined(separator: "/")
            XCTAssertEqual(Paths.normalize(path), reference(path), "normalize(\(path))")
            XCTAssertEqual(Paths.normalize("/" + path), reference("/" + path), "normalize(/\(path))")
            let joined = path.hasPrefix("/") ? reference(path) : path.isEmpty ? reference(base) : reference(base + "/" + path)
            XCTAssertEqual(Paths.join(base, path), joined, "join(\(base), \(path))")
        }
    }

    func testOpenFlagNames() {
        XCTAssertEqual(OpenFlags.names(0), ["read"])
        XCTAssertEqual(OpenFlags.names(0o2 | 0o100 | 0o2000), ["read", "write", "create", "append"])
        XCTAssertEqual(OpenFlags.names(0o20200000 | 0o1), ["write", "tmpfile"])
        var e = Event(kind: .open, pid: 1)
        e.flags = 0o10000000 | 0o1
        XCTAssertFalse(e.isWriteOpen, "O_PATH opens nothing for writing")
        e.flags = 0o1000
        XCTAssertTrue(e.isWriteOpen, "O_TRUNC alone destroys content")
    }

    /// Numbers and session ids are written digit by digit in place: check them at their
    /// bounds against Foundation's parser and the decoder.
    func testJSONNumbersAtTheirBounds() throws {
        let cases: [(UInt64, Int64, UInt64)] = [(0, 0, 0), (9, -1, 0xabc), (10, 10, 1 << 63), (UInt64.max, Int64.min, UInt64.max),
                                               (1_234_567_890_123, Int64.max, 0xdead_beef_0123_4567)]
        for (time, result, session) in cases {
            let e = Event(kind: .open, time: time, pid: -7, session: SessionID(session), result: result, comm: "c")
            let line = EventJSON.encode(e)
            let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
            XCTAssertEqual((obj["time"] as? NSNumber)?.uint64Value, time, line)
            XCTAssertEqual((obj["result"] as? NSNumber)?.int64Value, result, line)
            XCTAssertEqual(obj["pid"] as? Int, -7, line)
            XCTAssertEqual(obj["session"] as? String, String(format: "%016llx", session), line)
            XCTAssertEqual(try EventJSON.decode(Substring(line)), e, line)
        }
    }

    /// Strings are scanned eight bytes at a time: what needs escaping must be found at any
    /// offset, in strings of any length.
    func testJSONStringsRoundTripAtAnyOffset() throws {
        let pieces = ["a", "bcdefghi", "\"", "\\", "\n", "\t", "\u{1}", "\u{1f}", " ", "é", "日本", "/etc/cron.d/"]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let text = (0..<Int.random(in: 0...12, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            var e = Event(kind: .open, time: 1, pid: 1, session: s, result: 0, comm: "c")
            e.path = text
            let line = EventJSON.encode(e)
            XCTAssertFalse(line.utf8.contains { $0 < 0x20 }, "a control byte left unescaped: \(line)")
            let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
            XCTAssertEqual(obj["path"] as? String, text)
        }
    }

    /// A connect's listener and a deputy's adopted child survive a recording.
    func testJSONDeputyFieldsRoundTrip() throws {
        var c = Event(kind: .connect, time: 2, pid: 9, session: s, result: 0, comm: "tmux")
        c.family = .unix
        c.addr = "/tmp/tmux-0/default"
        c.reached = Reached(pid: 77, uid: 0, deputy: "tmux")
        var f = Event(kind: .fork, time: 3, pid: 77, session: s, result: 0, comm: "tmux: server")
        f.target = 78
        f.adoptedFrom = 77
        var k = Event(kind: .kill, time: 4, pid: 9, session: s, result: 0, comm: "sh")
        k.target = 300
        k.signal = 9
        k.reached = Reached(pid: 300, uid: 0, exe: "/usr/sbin/rsyslogd")
        var a = c
        a.addr = "/run/jobd.sock"
        a.reached = Reached(pid: 1, uid: 0, deputy: "jobd", activated: true)
        for e in [c, f, k, a] {
            let line = EventJSON.encode(e)
            XCTAssertEqual(try EventJSON.decode(Substring(line)), e, line)
        }
        XCTAssertTrue(EventJSON.encode(c).contains("\"deputy\":\"tmux\""))
        XCTAssertFalse(EventJSON.encode(c).contains("deputy_activated"))
        XCTAssertTrue(EventJSON.encode(a).contains("\"deputy_activated\":true"))
    }

    func testJSONEscapingAndErrors() throws {
        var e = Event(kind: .open, time: 5, pid: 3, session: s, result: -13, comm: "we\"ird\n")
        e.path = "/a\\b\u{1}"
        let line = EventJSON.encode(e)
        XCTAssertTrue(line.contains("\"error\":\"EACCES\""))
        XCTAssertEqual(try EventJSON.decode(Substring(line)), e)
        XCTAssertThrowsError(try EventJSON.decodeLines("\n{\"kind\":\"open\"}\n")) { err in
            XCTAssertTrue("\(err)".hasPrefix("line 2:"), "\(err)")
        }
        XCTAssertThrowsError(try EventJSON.decode("{\"kind\":\"teleport\",\"session\":\"0000000000000abc\",\"time\":1,\"pid\":1,\"result\":0}")) { err in
            XCTAssertTrue("\(err)".contains("unknown kind"), "\(err)")
        }
        XCTAssertThrowsError(try EventJSON.decode("not json"))
    }

    func testSessionIDText() {
        XCTAssertEqual(SessionID(0xabc).description, "0000000000000abc")
        XCTAssertEqual(SessionID("0000000000000abc"), SessionID(0xabc))
        XCTAssertNil(SessionID("abc"))
        XCTAssertEqual(SessionID.random().raw & (1 << 63), 0)
    }
}
