import Foundation
import TetherCore
import TetherExport
import XCTest

/// A real rsyslogd listening on a unix socket, UDP and TCP; every input parsed by rsyslog
/// (mmpstrucdata for RFC 5424 structured data) and written as tab-separated fields.
final class Rsyslog {
    let dir: String
    let socket: String
    let udpPort: UInt16
    let tcpPort: UInt16
    /// A TLS input (RFC 5425, rsyslog's GnuTLS driver) and the client certificates it takes.
    struct TLSInput { var port: UInt16; var ca, cert, key: String; var authMode = "x509/certvalid" }
    let tls: TLSInput?
    private var pid: pid_t = 0

    init(dir: String, udpPort: UInt16, tcpPort: UInt16, tls: TLSInput? = nil) throws {
        self.dir = dir
        socket = dir + "/log.sock"
        self.udpPort = udpPort
        self.tcpPort = tcpPort
        self.tls = tls
        try FileManager.default.createDirectory(atPath: dir + "/work", withIntermediateDirectories: true)
        var conf = """
        global(workDirectory="\(dir)/work")
        module(load="imuxsock" SysSock.Use="off")
        module(load="imudp")
        module(load="imtcp")
        module(load="mmpstrucdata")
        template(name="fields" type="string" string="%pri%\\t%syslogfacility-text%\\t%syslogseverity-text%\\t%hostname%\\t%app-name%\\t%procid%\\t%msgid%\\t%timereported:::date-rfc3339%\\t%$!%\\t%msg%\\n")
        input(type="imuxsock" Socket="\(socket)" UseSpecialParser="off" ParseHostname="on" IgnoreTimestamp="off" Ruleset="unix")
        input(type="imudp" address="127.0.0.1" port="\(udpPort)" Ruleset="udp")
        input(type="imtcp" address="127.0.0.1" port="\(tcpPort)" Ruleset="tcp")

        """
        var rulesets = ["unix", "udp", "tcp"]
        if let t = tls {
            conf += """
            input(type="imtcp" address="127.0.0.1" port="\(t.port)" Ruleset="tls" StreamDriver.Name="gtls" StreamDriver.Mode="1"
                  StreamDriver.AuthMode="\(t.authMode)" StreamDriver.CAFile="\(t.ca)" StreamDriver.CertFile="\(t.cert)" StreamDriver.KeyFile="\(t.key)")

            """
            rulesets.append("tls")
        }
        for r in rulesets {
            conf += "ruleset(name=\"\(r)\") { action(type=\"mmpstrucdata\") action(type=\"omfile\" file=\"\(dir)/\(r).log\" template=\"fields\") }\n"
        }
        try conf.write(toFile: dir + "/rsyslog.conf", atomically: true, encoding: .utf8)
        let rsyslogd = try System.require("rsyslogd", package: "rsyslog")
        let check = try System.run(rsyslogd, ["-N1", "-f", dir + "/rsyslog.conf"])
        guard check.status == 0 else { throw System.Failure(description: "rsyslog config rejected: \(check.both)") }
    }

    func start() throws {
        let rsyslogd = try System.require("rsyslogd", package: "rsyslog")
        pid = try System.spawn(rsyslogd, ["-n", "-f", dir + "/rsyslog.conf", "-i", dir + "/rsyslogd.pid"], log: dir + "/rsyslogd.out")
        // listening once the unix socket exists and the TCP port accepts
        guard System.eventually(10, { access(socket, F_OK) == 0 && System.canConnect(tcpPort) && (tls.map { System.canConnect($0.port) } ?? true) }) else {
            throw System.Failure(description: "rsyslogd did not start listening: \((try? String(contentsOfFile: dir + "/rsyslogd.out", encoding: .utf8)) ?? "")")
        }
    }

    func stop() {
        if pid > 0 {
            kill(pid, SIGTERM)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            pid = 0
        }
    }

    deinit { stop() }

    struct Line {
        var pri: Int
        var facility, severity, hostname, appName, procID, msgID, timestamp: String
        /// mmpstrucdata's parse: SD-ID → param → value.
        var sd: [String: [String: String]]
        var msg: String
    }

    func lines(_ input: String) -> [Line] {
        let text = (try? String(contentsOfFile: dir + "/\(input).log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { raw in
            let f = raw.split(separator: "\t", maxSplits: 9, omittingEmptySubsequences: false).map(String.init)
            guard f.count == 10, let pri = Int(f[0]) else { return nil }
            var sd: [String: [String: String]] = [:]
            if let obj = try? JSONSerialization.jsonObject(with: Data(f[8].utf8)) as? [String: Any],
               let tree = obj["rfc5424-sd"] as? [String: [String: String]] {
                sd = tree
            }
            return Line(pri: pri, facility: f[1], severity: f[2], hostname: f[3], appName: f[4], procID: f[5],
                        msgID: f[6], timestamp: f[7], sd: sd, msg: f[9])
        }
    }
}

extension System {
    /// Starts a program in the background (output to `log`); returns its pid.
    static func spawn(_ path: String, _ args: [String], log: String) throws -> pid_t {
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&fa, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &fa, nil, argv, environ)
        guard rc == 0 else { throw Failure(description: "spawning \(path): \(String(cString: strerror(rc)))") }
        return pid
    }

    static func canConnect(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }

    /// A port free for both TCP and UDP on 127.0.0.1 right now.
    static func freePort() -> UInt16 {
        while true {
            let port = UInt16.random(in: 20000...60000)
            var ok = true
            for type in [SOCK_STREAM, SOCK_DGRAM] {
                let fd = socket(AF_INET, Int32(type.rawValue), 0)
                var a = sockaddr_in()
                a.sin_family = sa_family_t(AF_INET)
                a.sin_port = port.bigEndian
                a.sin_addr.s_addr = inet_addr("127.0.0.1")
                if withUnsafePointer(to: &a, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) != 0 { ok = false }
                close(fd)
            }
            if ok { return port }
        }
    }
}

final class RsyslogTests: XCTestCase {
    var dir: String!
    var rsyslog: Rsyslog!

    override func setUpWithError() throws {
        dir = try System.scratch(name)
        rsyslog = try Rsyslog(dir: dir, udpPort: System.freePort(), tcpPort: System.freePort())
    }

    override func tearDown() {
        rsyslog?.stop()
        if let d = dir { try? FileManager.default.removeItem(atPath: d) }
    }

    /// Every field an alert carries, with characters that need escaping.
    let alert = AlertRecord(rule: "escape.credentials", severity: .critical, mitre: "T1552.001",
                            message: "read an SSH private key — outside the workspace",
                            session: "00000000c0ffee01", pid: 31337, exe: "/usr/bin/cat",
                            path: #"/home/dev/.ssh/id_"quoted"\back]slash"#, address: "203.0.113.7:443",
                            action: "stop", enforced: true, time: Date(timeIntervalSince1970: 1_750_000_000.25),
                            details: ["argv": "cat id_rsa"])

    func testRFC5424AlertArrivesOnUnixUDPAndTCPWithEveryFieldParsed() throws {
        try rsyslog.start()
        var fmt = SyslogFormat()
        fmt.facility = .local4
        fmt.appName = "tether-test"
        fmt.severities = try SeverityMap(parsing: "critical=alert")
        fmt.hostname = "agent-host"
        fmt.procID = "4242"
        let sinks = [SyslogSink(destination: .unix(rsyslog.socket), format: fmt),
                     SyslogSink(destination: .udp(host: "127.0.0.1", port: rsyslog.udpPort), format: fmt),
                     SyslogSink(destination: .tcp(host: "127.0.0.1", port: rsyslog.tcpPort), format: fmt)]
        for s in sinks { s.submit(alert) }
        for input in ["unix", "udp", "tcp"] {
            XCTAssertTrue(System.eventually(10) { !rsyslog.lines(input).isEmpty }, "nothing arrived over \(input)")
            guard let l = rsyslog.lines(input).first else { continue }
            XCTAssertEqual(l.pri, 20 * 8 + 1, input)
            XCTAssertEqual(l.facility, "local4", input)
            XCTAssertEqual(l.severity, "alert", input)
            XCTAssertEqual(l.hostname, "agent-host", input)
            XCTAssertEqual(l.appName, "tether-test", input)
            XCTAssertEqual(l.procID, "4242", input)
            XCTAssertEqual(l.msgID, "escape.credentials", input)
            XCTAssertTrue(l.timestamp.hasPrefix("2025-06-15T15:06:40.25"), "\(input): \(l.timestamp)")
            XCTAssertEqual(l.msg.trimmingCharacters(in: .whitespaces), alert.message, input)
            let sd = l.sd["tether@32473"] ?? [:]
            let expected = ["rule": "escape.credentials", "severity": "critical", "mitre": "T1552.001",
                            "session": "00000000c0ffee01", "pid": "31337", "exe": "/usr/bin/cat",
                            "path": #"/home/dev/.ssh/id_"quoted"\back]slash"#, "address": "203.0.113.7:443",
                            "action": "stop", "enforced": "true", "argv": "cat id_rsa"]
            XCTAssertEqual(sd, expected, "\(input): structured data as rsyslog parsed it")
        }
        for s in sinks {
            s.close(timeout: 2)
            XCTAssertEqual(s.health().sent, 1, s.name)
            XCTAssertEqual(s.health().dropped, 0, s.name)
        }
    }

    func testRFC3164ForOldReceivers() throws {
        try rsyslog.start()
        var fmt = SyslogFormat()
        fmt.style = .rfc3164
        fmt.facility = .daemon
        fmt.hostname = "oldhost"
        let sink = SyslogSink(destination: .udp(host: "127.0.0.1", port: rsyslog.udpPort), format: fmt)
        sink.submit(alert)
        XCTAssertTrue(System.eventually(10) { !rsyslog.lines("udp").isEmpty })
        let l = try XCTUnwrap(rsyslog.lines("udp").first)
        XCTAssertEqual(l.facility, "daemon")
        XCTAssertEqual(l.severity, "crit")
        XCTAssertEqual(l.hostname, "oldhost")
        XCTAssertEqual(l.appName, "tether")
        XCTAssertTrue(l.msg.contains("rule=escape.credentials severity=critical mitre=T1552.001 session=00000000c0ffee01 pid=31337 exe=/usr/bin/cat"), l.msg)
        XCTAssertTrue(l.msg.contains(#"msg="read an SSH private key — outside the workspace""#), l.msg)
        sink.close(timeout: 2)
    }

    /// The daemon with its receiver down: detection goes on, alerts beyond the queue are
    /// counted, and once rsyslogd is up the drop count arrives first, then the queued alerts.
    func testDaemonKeepsDetectingWhileTheReceiverIsDownAndReportsTheDropCount() throws {
        let policy = dir + "/policy.yaml"
        let agent = dir + "/agent"
        try FileManager.default.copyItem(atPath: System.testops, toPath: agent)
        try "agents:\n  - name: t\n    match:\n      exe: [\"\(agent)\"]\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let events = dir + "/events.jsonl"
        let control = dir + "/control.sock"
        let d = try System.spawn(System.binDir + "/tetherd", [
            "--policy", policy, "--events", events, "--control", control, "--pin-dir", "", "--status-interval", "0",
            "--syslog", "tcp://127.0.0.1:\(rsyslog.tcpPort)", "--syslog-queue", "2", "--syslog-retry-max", "0.3",
            // no ledgers: the agent's session below would add its session-end alert to the four counted here
            "--ledger-max-mib", "0",
        ], log: dir + "/tetherd.log")
        defer { kill(d, SIGTERM); var st: Int32 = 0; waitpid(d, &st, 0) }
        func daemonLog() -> String { (try? String(contentsOfFile: dir + "/tetherd.log", encoding: .utf8)) ?? "" }
        XCTAssertTrue(System.eventually(30) { daemonLog().contains("tetherd: ready") }, daemonLog())

        // Four alerts of the daemon's own (rejected reloads) while nobody listens: 2 queued, 2 dropped.
        let good = try String(contentsOfFile: policy, encoding: .utf8)
        try "agents: [".write(toFile: policy, atomically: true, encoding: .utf8)
        for i in 1...4 {
            kill(d, SIGHUP)
            XCTAssertTrue(System.eventually(5) { daemonLog().components(separatedBy: "reload rejected, keeping").count - 1 >= i })
        }
        try good.write(toFile: policy, atomically: true, encoding: .utf8)
        // Detection goes on meanwhile.
        let marker = dir + "/still-detecting"
        _ = try System.run(agent, ["open", marker, "wc"])
        XCTAssertTrue(System.eventually(10) {
            let evs = (try? EventJSON.decodeLines((try? String(contentsOfFile: events, encoding: .utf8)) ?? "")) ?? []
            return evs.contains { $0.kind == .open && $0.path == marker }
        }, "events must keep flowing while the syslog receiver is down")
        let status = try System.run(System.binDir + "/tether", ["status", "--socket", control])
        XCTAssertTrue(status.out.contains("syslog tcp://127.0.0.1:\(rsyslog.tcpPort): down, 0 sent, 2 queued, 2 dropped"), status.both)

        try rsyslog.start()
        XCTAssertTrue(System.eventually(15) { rsyslog.lines("tcp").count >= 3 }, "after the receiver came back: \(rsyslog.lines("tcp").map(\.msg)) \(daemonLog())")
        let got = rsyslog.lines("tcp")
        XCTAssertEqual(got.first?.msgID, "tether.alerts_dropped")
        XCTAssertEqual(got.first?.sd["tether@32473"]?["dropped"], "2")
        XCTAssertEqual(got.dropFirst().map(\.msgID), ["tether.policy_rejected", "tether.policy_rejected"])
        XCTAssertEqual(got.dropFirst().first?.sd["tether@32473"]?["path"], policy)
        XCTAssertTrue(daemonLog().contains("reported 2 dropped alert(s) to the receiver"), daemonLog())
        let healthy = "syslog tcp://127.0.0.1:\(rsyslog.tcpPort): up, 2 sent, 0 queued, 2 dropped"
        var after = ""
        XCTAssertTrue(System.eventually(3) {
            after = (try? System.run(System.binDir + "/tether", ["status", "--socket", control]).out) ?? ""
            return after.contains(healthy)
        }, after)
    }
}
