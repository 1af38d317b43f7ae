import Foundation
import TetherCore
import TetherExport
import XCTest

/// Syslog over TLS (RFC 5425) into a real rsyslogd with its GnuTLS driver, requiring a
/// client certificate from the test's CA: certificates made here with openssl; a client
/// with a valid certificate is received with every field parsed, a client without one or
/// with one from another CA is refused, and Tether refuses a server that is not the pinned
/// name or not signed by the CA it was given.
final class RsyslogTLSTests: XCTestCase {
    var dir: String!
    var rsyslog: Rsyslog!
    var tlsPort: UInt16 = 0

    /// A CA, a server certificate for syslog.test (and 127.0.0.1), a client certificate from
    /// the CA, and a rogue CA with a client certificate of its own.
    func makePKI(_ d: String) throws {
        _ = try System.require("openssl", package: "openssl")
        let script = """
        set -e
        cd '\(d)'
        key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
        ca() { key $1.key; openssl req -x509 -new -key $1.key -out $1.pem -days 2 -subj "/CN=$2" \\
               -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign; }
        leaf() { key $1.key; openssl req -new -key $1.key -out $1.csr -subj "/CN=$2"
                 printf "$4\\n" > $1.ext
                 openssl x509 -req -in $1.csr -CA $3.pem -CAkey $3.key -CAcreateserial -out $1.pem -days 2 -extfile $1.ext 2>/dev/null; }
        ca ca "Tether test CA"
        ca rogue "Someone else's CA"
        leaf server syslog.test ca "subjectAltName=DNS:syslog.test,IP:127.0.0.1\\nextendedKeyUsage=serverAuth"
        leaf client tetherd.test ca "subjectAltName=DNS:tetherd.test\\nextendedKeyUsage=clientAuth"
        leaf intruder intruder.test rogue "subjectAltName=DNS:intruder.test\\nextendedKeyUsage=clientAuth"
        chmod 0644 *.key
        """
        let r = try System.sh(script)
        guard r.status == 0 else { throw System.Failure(description: "making certificates: \(r.both)") }
    }

    override func setUpWithError() throws {
        dir = try System.scratch(name)
        try makePKI(dir)
        tlsPort = System.freePort()
        rsyslog = try Rsyslog(dir: dir, udpPort: System.freePort(), tcpPort: System.freePort(),
                              tls: .init(port: tlsPort, ca: dir + "/ca.pem", cert: dir + "/server.pem", key: dir + "/server.key"))
        try rsyslog.start()
    }

    override func tearDown() {
        rsyslog?.stop()
        if let d = dir { try? FileManager.default.removeItem(atPath: d) }
    }

    func alert(_ message: String) -> AlertRecord {
        AlertRecord(rule: "persist.cron", severity: .high, mitre: "T1053.003", message: message, session: "00000000c0ffee02",
                    pid: 4242, exe: "/usr/bin/cp", path: "/etc/cron.d/job", action: "kill", enforced: true,
                    time: Date(timeIntervalSince1970: 1_750_000_000.5))
    }

    func sink(_ options: String) throws -> SyslogSink {
        let (d, _) = try SyslogDestination.parse(withFormat: "tls://127.0.0.1:\(tlsPort)" + options)
        var o = SyslogSink.Options()
        o.initialBackoff = 0.05
        o.maxBackoff = 0.2
        var f = SyslogFormat()
        f.hostname = "agent-host"
        f.appName = "tether"
        return SyslogSink(destination: d, format: f, options: o)
    }

    func testMutualTLSDeliversAndRefusesWhoeverHasNoValidCertificate() throws {
        let ca = dir + "/ca.pem"
        // refused by rsyslogd: no client certificate; one from another CA
        let anonymous = try sink(",ca=\(ca),name=syslog.test")
        let intruder = try sink(",ca=\(ca),cert=\(dir!)/intruder.pem,key=\(dir!)/intruder.key,name=syslog.test")
        // refused by Tether: the server is not the pinned name; the server's CA is not the one given
        let wrongName = try sink(",ca=\(ca),cert=\(dir!)/client.pem,key=\(dir!)/client.key,name=other.test")
        let wrongCA = try sink(",ca=\(dir!)/rogue.pem,cert=\(dir!)/client.pem,key=\(dir!)/client.key,name=syslog.test")
        let refused = [anonymous, intruder, wrongName, wrongCA]
        for (i, s) in refused.enumerated() { s.submit(alert("must not arrive \(i)")) }

        let good = try sink(",ca=\(ca),cert=\(dir!)/client.pem,key=\(dir!)/client.key,name=syslog.test")
        defer { for s in refused + [good] { s.close(timeout: 1) } }
        good.submit(alert("planted a cron job"))
        XCTAssertTrue(System.eventually(15) { !rsyslog.lines("tls").isEmpty }, "nothing arrived over TLS: \(good.health())")
        let l = try XCTUnwrap(rsyslog.lines("tls").first)
        XCTAssertEqual(l.msgID, "persist.cron")
        XCTAssertEqual(l.hostname, "agent-host")
        XCTAssertEqual(l.appName, "tether")
        XCTAssertEqual(l.msg.trimmingCharacters(in: .whitespaces), "planted a cron job")
        XCTAssertEqual(l.sd["tether@32473"]?["path"], "/etc/cron.d/job")
        XCTAssertEqual(l.sd["tether@32473"]?["session"], "00000000c0ffee02")
        XCTAssertEqual(good.health().state, "up")

        // each refused client is down with the reason, its alert still queued, nothing received
        let reasons = [(anonymous, "refused this client"), (intruder, "refused this client"),
                       (wrongName, "not trusted for other.test"), (wrongCA, "not trusted for syslog.test")]
        for (s, why) in reasons {
            XCTAssertTrue(System.eventually(15) { s.health().state == "down" && s.health().lastError?.contains(why) == true },
                          "\(s.name): \(s.health())")
            XCTAssertEqual(s.health().sent, 0, "\(s.health())")
            XCTAssertEqual(s.health().queued, 1, "\(s.health())")
        }
        if ProcessInfo.processInfo.environment["TETHER_SHOW"] != nil { for s in refused + [good] { print(s.health()) } }
        // the good client's second alert arrives after the refused ones had their tries
        good.submit(alert("second"))
        XCTAssertTrue(System.eventually(15) { rsyslog.lines("tls").count >= 2 }, "\(good.health())")
        XCTAssertEqual(rsyslog.lines("tls").map(\.msg).map { $0.trimmingCharacters(in: .whitespaces) }, ["planted a cron job", "second"])
    }

    func testBadCertificateFilesAreSaidBeforeAnythingStarts() throws {
        XCTAssertThrowsError(try TLSOptions(caFile: dir + "/missing.pem").check()) { XCTAssertTrue("\($0)".contains("missing.pem"), "\($0)") }
        XCTAssertThrowsError(try TLSOptions(caFile: dir + "/ca.pem", certFile: dir + "/client.pem", keyFile: dir + "/intruder.key").check()) {
            XCTAssertTrue("\($0)".contains("mismatch"), "\($0)")
        }
        XCTAssertThrowsError(try TLSOptions(certFile: dir + "/client.pem").check()) { XCTAssertTrue("\($0)".contains("together"), "\($0)") }
        XCTAssertThrowsError(try SyslogDestination.parse(withFormat: "tcp://h:1,ca=/x")) { XCTAssertTrue("\($0)".contains("unknown option `ca=`"), "\($0)") }
        // tetherd says it and exits with a usage error
        let r = try System.run(System.binDir + "/tetherd", ["--syslog", "tls://127.0.0.1:\(tlsPort),ca=\(dir!)/missing.pem", "--pin-dir", ""])
        XCTAssertEqual(r.status, 64, r.both)
        XCTAssertTrue(r.err.contains("--syslog") && r.err.contains("missing.pem"), r.both)
    }
}
