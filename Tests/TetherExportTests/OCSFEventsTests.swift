import Foundation
import TetherCore
@testable import TetherExport
import XCTest

/// Session events as OCSF 1.2.0 records (README, "Events as OCSF"): each kind's class and
/// activity, the objects OCSF puts the facts in, the status from the errno, and the event
/// itself under `unmapped.tether`. The kernel tier validates real ones against
/// ocsf-pydantic's models (CLITests).
final class OCSFEventsTests: XCTestCase {
    static let session = SessionID(0xa11ce)
    /// A fixed boot-to-wall offset: event time 5 s after boot is 2025-12-02T03:04:05.123Z.
    static let offset: Int64 = 1_764_644_645_123_000_000 - 5_000_000_000

    func event(_ kind: EventKind, result: Int64 = 0) -> Event {
        var e = Event(kind: kind, time: 5_000_000_000, pid: 4242, ppid: 4200, uid: 1000, session: OCSFEventsTests.session,
                      syscall: 1, result: result, comm: "python3")
        e.exe = "/usr/bin/python3.12"
        return e
    }

    func record(_ e: Event) throws -> [String: Any] {
        let line = OCSFEvents.encode(e, bootToWall: OCSFEventsTests.offset)
        XCTAssertFalse(line.contains("\n"), "one line")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
    }

    func object(_ o: [String: Any], _ path: String) -> [String: Any]? {
        var cur: Any? = o
        for k in path.split(separator: ".") { cur = (cur as? [String: Any])?[String(k)] }
        return cur as? [String: Any]
    }

    func testExecIsAProcessLaunchWithItsCommandLine() throws {
        var e = event(.exec)
        e.syscall = 0
        e.path = "/usr/bin/curl"
        e.exe = "/usr/bin/curl"
        e.comm = "curl"
        e.argv = ["curl", "-s", "http://example.com"]
        e.cwd = "/work"
        let o = try record(e)
        XCTAssertEqual(o["class_uid"] as? Int, 1007)
        XCTAssertEqual(o["category_uid"] as? Int, 1)
        XCTAssertEqual(o["activity_id"] as? Int, 1)
        XCTAssertEqual(o["activity_name"] as? String, "Launch")
        XCTAssertEqual(o["type_uid"] as? Int, 100701)
        XCTAssertEqual(o["type_name"] as? String, "Process Activity: Launch")
        XCTAssertEqual(o["time"] as? Int64, 1_764_644_645_123, "milliseconds of the wall clock")
        XCTAssertEqual(o["severity_id"] as? Int, 1)
        XCTAssertEqual(o["status_id"] as? Int, 1)
        XCTAssertEqual(o["status"] as? String, "Success")
        XCTAssertNil(o["status_code"])
        XCTAssertEqual(object(o, "metadata")?["version"] as? String, "1.2.0")
        XCTAssertEqual(object(o, "metadata.product")?["name"] as? String, "Tether")
        XCTAssertEqual(object(o, "metadata")?["correlation_uid"] as? String, "00000000000a11ce", "the session")
        let p = try XCTUnwrap(object(o, "process"))
        XCTAssertEqual(p["pid"] as? Int, 4242)
        XCTAssertEqual(p["cmd_line"] as? String, "curl -s http://example.com")
        XCTAssertEqual(p["name"] as? String, "curl")
        XCTAssertEqual(p["working_directory"] as? String, "/work")
        XCTAssertEqual(object(o, "process.file")?["path"] as? String, "/usr/bin/curl")
        XCTAssertEqual(object(o, "process.file")?["type_id"] as? Int, 1)
        XCTAssertEqual(object(o, "process.parent_process")?["pid"] as? Int, 4200)
        XCTAssertEqual(object(o, "process.user")?["uid"] as? String, "1000")
        XCTAssertEqual(object(o, "actor.process")?["pid"] as? Int, 4242)
        let tether = try XCTUnwrap(object(o, "unmapped.tether"))
        XCTAssertEqual(tether["kind"] as? String, "exec")
        XCTAssertEqual(tether["session"] as? String, "00000000000a11ce")
        XCTAssertEqual(tether["argv"] as? [String], ["curl", "-s", "http://example.com"])
    }

    func testForkLaunchesTheChildAndExitTerminates() throws {
        var fork = event(.fork, result: 4243)
        fork.target = 4243
        let f = try record(fork)
        XCTAssertEqual(f["type_uid"] as? Int, 100701)
        XCTAssertEqual(object(f, "process")?["pid"] as? Int, 4243, "the child")
        XCTAssertEqual(object(f, "process.parent_process")?["pid"] as? Int, 4242)
        XCTAssertEqual(object(f, "actor.process")?["pid"] as? Int, 4242)
        var exit = event(.exit)
        exit.exitCode = 3
        let x = try record(exit)
        XCTAssertEqual(x["type_uid"] as? Int, 100702)
        XCTAssertEqual(x["activity_name"] as? String, "Terminate")
        XCTAssertEqual(x["exit_code"] as? Int, 3)
    }

    func testFileEventsByWhatTheyDo() throws {
        var write = event(.open, result: 3)
        write.path = "/work/out.txt"
        write.flags = OpenFlags.writeOnly | OpenFlags.create | OpenFlags.truncate
        write.mode = 0o644
        let w = try record(write)
        XCTAssertEqual(w["class_uid"] as? Int, 1001)
        XCTAssertEqual(w["type_uid"] as? Int, 100101, "O_CREAT: Create")
        XCTAssertEqual(object(w, "file")?["path"] as? String, "/work/out.txt")
        XCTAssertEqual(object(w, "file")?["name"] as? String, "out.txt")
        XCTAssertEqual(object(w, "file")?["type_id"] as? Int, 1, "O_CREAT only makes regular files")
        XCTAssertEqual(object(w, "actor.process")?["name"] as? String, "python3.12", "the exe's name")
        XCTAssertEqual(object(w, "actor.process.file")?["path"] as? String, "/usr/bin/python3.12")

        var update = write
        update.flags = OpenFlags.readWrite
        XCTAssertEqual(try record(update)["type_uid"] as? Int, 100103)
        update.flags = OpenFlags.path
        XCTAssertEqual(try record(update)["type_uid"] as? Int, 100114, "O_PATH: an Open, no content")

        var rename = event(.rename)
        rename.path = "/work/a"
        rename.newPath = "/work/b"
        let r = try record(rename)
        XCTAssertEqual(r["type_uid"] as? Int, 100105)
        XCTAssertEqual(object(r, "file")?["path"] as? String, "/work/a")
        XCTAssertEqual(object(r, "file_result")?["path"] as? String, "/work/b")

        var chmod = event(.chmod)
        chmod.path = "/work/run.sh"
        chmod.mode = 0o755
        XCTAssertEqual(try record(chmod)["type_uid"] as? Int, 100106)
        var unlink = event(.unlink)
        unlink.path = "/work/a"
        XCTAssertEqual(try record(unlink)["type_uid"] as? Int, 100104)
        var mkdir = event(.mkdir)
        mkdir.path = "/work/d"
        XCTAssertEqual(object(try record(mkdir), "file")?["type_id"] as? Int, 2, "a folder")
    }

    /// A failed call: status Failure, the errno's name as status_code, and the event's own
    /// result and error under unmapped.tether.
    func testAFailedCallIsAFailureWithItsErrno() throws {
        var read = event(.open, result: -13)
        read.path = "/etc/shadow"
        read.flags = 0
        let o = try record(read)
        XCTAssertEqual(o["type_uid"] as? Int, 100102, "read-only: Read")
        XCTAssertEqual(o["status_id"] as? Int, 2)
        XCTAssertEqual(o["status"] as? String, "Failure")
        XCTAssertEqual(o["status_code"] as? String, "EACCES")
        XCTAssertEqual(object(o, "unmapped.tether")?["result"] as? Int, -13)
        XCTAssertEqual(object(o, "unmapped.tether")?["error"] as? String, "EACCES")
        XCTAssertEqual(object(o, "file")?["type_id"] as? Int, 0, "an open without O_CREAT does not say what the file is")

        var refused = event(.connect, result: -111)
        refused.family = .inet
        refused.addr = "127.0.0.1"
        refused.port = 9
        let c = try record(refused)
        XCTAssertEqual(c["type_uid"] as? Int, 400105, "Refuse")
        XCTAssertEqual(c["status_code"] as? String, "ECONNREFUSED")
        var other = refused
        other.result = -101
        XCTAssertEqual(try record(other)["type_uid"] as? Int, 400104, "Fail")
        XCTAssertEqual(try record(other)["status_code"] as? String, "ENETUNREACH")
        other.result = -Int64(EINPROGRESS)
        let pending = try record(other)
        XCTAssertEqual(pending["type_uid"] as? Int, 400101, "a non-blocking connect under way is an Open")
        XCTAssertEqual(pending["status_id"] as? Int, 0, "its outcome is not known yet")
        XCTAssertEqual(pending["status_code"] as? String, "EINPROGRESS")
        other.result = -5000 // not an errno (a recording's)
        XCTAssertEqual(try record(other)["status_id"] as? Int, 99)
        XCTAssertEqual(try record(other)["status_code"] as? String, "-5000")
    }

    func testSocketEventsNameTheirEndpoints() throws {
        var connect = event(.connect)
        connect.family = .inet6
        connect.addr = "::1"
        connect.port = 8443
        let c = try record(connect)
        XCTAssertEqual(c["class_uid"] as? Int, 4001)
        XCTAssertEqual(c["category_uid"] as? Int, 4)
        XCTAssertEqual(c["type_uid"] as? Int, 400101)
        XCTAssertEqual(object(c, "dst_endpoint")?["ip"] as? String, "::1")
        XCTAssertEqual(object(c, "dst_endpoint")?["port"] as? Int, 8443)
        XCTAssertEqual(object(c, "src_endpoint")?["hostname"] as? String, FalcoJSON.hostname)
        XCTAssertEqual(object(c, "connection_info")?["direction_id"] as? Int, 2)
        XCTAssertEqual(object(c, "connection_info")?["protocol_ver_id"] as? Int, 6)

        var unix = event(.connect)
        unix.family = .unix
        unix.addr = "/run/docker.sock"
        let u = try record(unix)
        XCTAssertEqual(object(u, "dst_endpoint")?["name"] as? String, "/run/docker.sock", "not an IP: a name")
        XCTAssertNil(object(u, "dst_endpoint")?["ip"])

        var listen = event(.listen)
        listen.family = .inet
        listen.addr = "0.0.0.0"
        listen.port = 8080
        let l = try record(listen)
        XCTAssertEqual(l["type_uid"] as? Int, 400107, "Listen")
        XCTAssertEqual(object(l, "dst_endpoint")?["port"] as? Int, 8080, "the listener serves")
        XCTAssertEqual(object(l, "connection_info")?["direction_id"] as? Int, 1)

        var send = event(.sendto, result: 512)
        send.family = .inet
        send.addr = "10.0.0.1"
        send.port = 53
        send.bytes = 512
        XCTAssertEqual(object(try record(send), "traffic")?["bytes_out"] as? Int, 512)

        var bogus = connect
        bogus.addr = "not-an-ip" // from a recording: never written as an ip
        XCTAssertEqual(object(try record(bogus), "dst_endpoint")?["name"] as? String, "not-an-ip")
    }

    /// Every kind is a record of one of the three classes, with the objects its class
    /// requires, and type_uid = class_uid * 100 + activity_id.
    func testEveryKindHasAClass() throws {
        for kind in EventKind.allCases {
            var e = event(kind)
            e.path = "/x/y"
            let o = try record(e)
            let cls = try XCTUnwrap(o["class_uid"] as? Int, "\(kind)")
            let activity = try XCTUnwrap(o["activity_id"] as? Int, "\(kind)")
            XCTAssertTrue([1001, 1007, 4001].contains(cls), "\(kind): \(cls)")
            XCTAssertEqual(o["type_uid"] as? Int, cls * 100 + activity, "\(kind)")
            XCTAssertNotNil(object(o, "actor.process"), "\(kind)")
            XCTAssertNotNil(object(o, "device"), "\(kind)")
            XCTAssertEqual(object(o, "unmapped.tether")?["kind"] as? String, kind.rawValue)
            switch cls {
            case 1001:
                XCTAssertNotNil(object(o, "file")?["name"] as? String, "\(kind)")
                XCTAssertNotNil(object(o, "file")?["type_id"] as? Int, "\(kind)")
            case 1007: XCTAssertNotNil(object(o, "process"), "\(kind)")
            default:
                XCTAssertNotNil(object(o, "src_endpoint"), "\(kind)")
                XCTAssertNotNil(object(o, "dst_endpoint"), "\(kind)")
            }
            if activity == 99 { XCTAssertEqual(o["activity_name"] as? String, kind.rawValue, "Other is named by the kind") }
        }
        XCTAssertEqual(OCSFEvents.activity(event(.setuid)).typeUID, 100705)
        var ptrace = event(.ptrace)
        ptrace.request = 16 // PTRACE_ATTACH
        XCTAssertEqual(OCSFEvents.activity(ptrace).name, "Open")
        ptrace.request = 5 // PTRACE_POKEDATA
        XCTAssertEqual(OCSFEvents.activity(ptrace).name, "Inject")
        var device = event(.device)
        device.op = "read,write"
        device.dev = 0x103 // 1:3, /dev/null
        device.deviceType = "char"
        let d = try record(device)
        XCTAssertEqual(d["type_uid"] as? Int, 100103)
        XCTAssertEqual(object(d, "file")?["name"] as? String, "1:3")
        XCTAssertEqual(object(d, "file")?["type_id"] as? Int, 3)
    }

    func testATimeNoClockHoldsIsClampedNotATrap() throws {
        var e = event(.exit)
        e.time = UInt64.max
        XCTAssertEqual(try record(e)["time"] as? Int64, Int64.max / 1_000_000)
    }

    func testTheEventsFormatIsParsedLikeTheAlerts() throws {
        XCTAssertTrue(try EventFormat.parse(destination: "/var/log/e.jsonl") == ("/var/log/e.jsonl", .tether))
        XCTAssertTrue(try EventFormat.parse(destination: "/var/log/a,b.jsonl,format=OCSF") == ("/var/log/a,b.jsonl", .ocsf))
        XCTAssertThrowsError(try EventFormat.parse(destination: "/x,format=falco")) {
            XCTAssertTrue("\($0)".contains("unknown format falco (expected tether, ocsf)"), "\($0)")
        }
        XCTAssertThrowsError(try EventFormat.parse(destination: ",format=ocsf")) { XCTAssertTrue("\($0)".contains("no file"), "\($0)") }
        XCTAssertEqual(EventFormat.tether.encode(event(.exit)), EventJSON.encode(event(.exit)))
    }

    /// The alert encoder shares the process, file and endpoint objects: a Detection Finding
    /// with its evidence, and details whose names are data, escaped.
    func testAlertsAsDetectionFindings() throws {
        var a = AlertRecord(rule: "escape.credentials", severity: .high, mitre: "T1552", message: "credential read",
                            session: "00000000000a11ce", pid: 4242, exe: "/usr/bin/cat", path: "/etc/shadow", address: "[::1]:443",
                            action: "alert", enforced: false, time: Date(timeIntervalSince1970: 1_764_644_645.123),
                            details: ["we\"ird": "va\\lue"])
        a.ancestry = [AlertProcess(ProcessRecord(pid: 4242, ppid: 4200, session: SessionID(0xa11ce), exe: "/usr/bin/cat", argv: ["cat", "/etc/shadow"], cwd: "/w")),
                      AlertProcess(ProcessRecord(pid: 4200, ppid: 1, session: SessionID(0xa11ce), exe: "/bin/bash", argv: ["bash"]))]
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(OCSFJSON.encode(a).utf8)) as? [String: Any])
        XCTAssertEqual(o["type_uid"] as? Int, 200401)
        XCTAssertEqual(o["time"] as? Int64, 1_764_644_645_123)
        XCTAssertEqual(o["severity_id"] as? Int, 4)
        XCTAssertEqual(object(o, "finding_info")?["title"] as? String, "escape.credentials")
        let ev = try XCTUnwrap((o["evidences"] as? [[String: Any]])?.first)
        XCTAssertEqual(object(ev, "process")?["cmd_line"] as? String, "cat /etc/shadow")
        XCTAssertEqual(object(ev, "process")?["working_directory"] as? String, "/w")
        XCTAssertEqual(object(ev, "process.parent_process")?["pid"] as? Int, 4200)
        XCTAssertEqual(object(ev, "file")?["path"] as? String, "/etc/shadow")
        XCTAssertEqual(object(ev, "dst_endpoint")?["ip"] as? String, "::1")
        XCTAssertEqual(object(ev, "dst_endpoint")?["port"] as? Int, 443)
        XCTAssertEqual(object(o, "unmapped.tether.details")?["we\"ird"] as? String, "va\\lue")
        a.address = "@abstract:1" // a unix name with a colon is no ip:port
        let u = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(OCSFJSON.encode(a).utf8)) as? [String: Any])
        XCTAssertEqual(object((u["evidences"] as? [[String: Any]])?.first ?? [:], "dst_endpoint")?["name"] as? String, "@abstract:1")
    }
}
