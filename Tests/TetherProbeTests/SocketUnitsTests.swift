import Foundation
import TetherCore
@testable import TetherProbe
import XCTest

/// The service manager's sockets (socket activation): what systemd says it listens on and
/// starts there, and which of those sockets start a deputy, by the executable's file.
final class SocketUnitsTests: XCTestCase {
    /// `systemctl show --property=Id,Listen,Triggers,Accept -- '*.socket'` as systemd 252
    /// printed it in this project's test container.
    static let sockets = """
    Accept=no
    Listen=/run/systemd/journal/socket (Datagram)
    Listen=/run/systemd/journal/stdout (Stream)
    Id=systemd-journald.socket
    Triggers=systemd-journald.service

    Accept=no
    Listen=/run/initctl (FIFO)
    Id=systemd-initctl.socket
    Triggers=systemd-initctl.service

    Accept=yes
    Listen=127.0.0.1:7411 (Stream)
    Listen=/run/jobd.sock (Stream)
    Id=jobd.socket
    Triggers=

    Accept=no
    Listen=[::]:7412 (Stream)
    Id=jobn.socket
    Triggers=jobn.service other.target
    """

    func testTheSocketUnitsStreamSocketsAndTheServicesTheyStartAreRead() {
        let units = SocketUnits.parseSockets(Self.sockets)
        XCTAssertEqual(units.map(\.id), ["systemd-journald.socket", "jobd.socket", "jobn.socket"], "a FIFO-only unit starts no conversation")
        XCTAssertEqual(units[0].listens, ["/run/systemd/journal/stdout"], "datagram sockets are left out")
        XCTAssertEqual(units[0].services, ["systemd-journald.service"])
        XCTAssertEqual(units[1].listens, ["127.0.0.1:7411", "/run/jobd.sock"])
        XCTAssertEqual(units[1].services, ["jobd@tether-probe.service"], "Accept=yes: an instance of the template")
        XCTAssertEqual(units[2].services, ["jobn.service"], "only services are started")
        XCTAssertEqual(SocketUnits.parseSockets("Id=x.socket\nListen=garbage\n\n=\n\nno equals sign\n"), [], "nothing that is no stream socket")

        XCTAssertEqual(SocketUnits.port("127.0.0.1:7411"), 7411)
        XCTAssertEqual(SocketUnits.port("[::]:22"), 22)
        XCTAssertNil(SocketUnits.port("/run/jobd.sock"))
        XCTAssertNil(SocketUnits.port("@abstract"))
        XCTAssertNil(SocketUnits.port("[::]:99999"))
    }

    func testTheCommandsAServiceStartsAreItsExecStartPathsAndArguments() {
        let text = """
        ExecStart={ path=/usr/local/sbin/jobd ; argv[]=/usr/local/sbin/jobd ; ignore_errors=yes ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }
        Id=jobd@tether-probe.service

        ExecStart={ path=/bin/true ; argv[]=jobn -c sleep 100 ; ignore_errors=no } ; { path=/usr/sbin/sshd ; argv[]=sshd -i ; ignore_errors=no }
        Id=jobn.service

        Id=nosuch.service
        """
        XCTAssertEqual(SocketUnits.parseExecStart(text), ["jobd@tether-probe.service": [.init("/usr/local/sbin/jobd")],
                                                          "jobn.service": [.init("/bin/true", ["-c", "sleep", "100"]), .init("/usr/sbin/sshd", ["-i"])],
                                                          "nosuch.service": []])
    }

    /// A port counts where the manager really listens (the kernel's table) and its service
    /// runs a deputy's file; a unix socket where the path is a socket and its service runs a
    /// deputy's file. A copy of the deputy's executable under the same name is no deputy.
    func testWhichOfTheManagersSocketsStartADeputyIsDecidedByTheExecutablesFile() throws {
        let dir = NSTemporaryDirectory() + "tether-activated-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir + "/copy", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shell = URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path // the file, not the link
        try FileManager.default.copyItem(atPath: shell, toPath: dir + "/jobd")
        try FileManager.default.copyItem(atPath: shell, toPath: dir + "/copy/jobd")
        try "not a socket".write(toFile: dir + "/plain", atomically: false, encoding: .utf8)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = dir + "/jobd.sock"
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in path.utf8CString.withUnsafeBytes { buf.copyMemory(from: $0) } }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        XCTAssertEqual(bound, 0, String(cString: strerror(errno)))
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)

        let deputy = try XCTUnwrap(Listeners.FileID(regular: dir + "/jobd"))
        let activations: [SocketUnits.Activation] = [
            .init(listen: "127.0.0.1:7411", commands: [.init("/bin/true"), .init(dir + "/jobd")]),
            .init(listen: "[::]:7412", commands: [.init(dir + "/jobd")]), // no socket of the manager's there
            .init(listen: "0.0.0.0:7413", commands: [.init(dir + "/copy/jobd")]), // a look-alike
            .init(listen: path, commands: [.init(dir + "/jobd")]),
            .init(listen: dir + "/plain", commands: [.init(dir + "/jobd")]), // no socket
            .init(listen: dir + "/other.sock", commands: [.init(dir + "/copy/jobd")]),
        ]
        let found = Listeners.activated(activations, tcp: [deputy: "jobd"], unix: [(kind: 64, name: "jobd", paths: [dir + "/jobd"])],
                                        managerPorts: [7411, 7413])
        XCTAssertEqual(found.ports, [7411: "jobd"])
        XCTAssertEqual(found.sockets, [.init(kind: 64, name: "jobd", path: path, dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))])
        XCTAssertTrue(Listeners.activated(activations, tcp: [:], unix: [], managerPorts: [7411]) == ([:], []), "no deputies, none found")

        // a scripted deputy: its interpreter's file, and an argument naming its script's file
        try "read c; eval \"$c\"\n".write(toFile: dir + "/jobs.sh", atomically: false, encoding: .utf8)
        try "read c; eval \"$c\"\n".write(toFile: dir + "/copy/jobs.sh", atomically: false, encoding: .utf8)
        let scripted = [(kind: UInt32(65), name: "jobs.sh", interpreter: shell, script: dir + "/jobs.sh")]
        let runs: [SocketUnits.Activation] = [
            .init(listen: path, commands: [.init(shell, ["-e", dir + "/jobs.sh"])]),
            .init(listen: "127.0.0.1:7411", commands: [.init(shell, [dir + "/copy/jobs.sh"])]), // a copy of the script
            .init(listen: "127.0.0.1:7413", commands: [.init(dir + "/jobd", [dir + "/jobs.sh"])]), // another interpreter
        ]
        let byScript = Listeners.activated(runs, tcp: [:], unix: [], scripted: scripted, managerPorts: [7411, 7413])
        XCTAssertEqual(byScript.sockets.map(\.kind), [65])
        XCTAssertEqual(byScript.sockets.map(\.name), ["jobs.sh"])
        XCTAssertEqual(byScript.ports, [:])
    }

    /// A look takes the manager's last answer and asks again in the background: only the
    /// first one waits. The second question is held until the test lets it go, so a look
    /// that waited for it would never return.
    func testALookNeverWaitsOnTheManagerAfterTheFirst() {
        let held = DispatchSemaphore(value: 0)
        let count = NSLock()
        var calls = 0
        let asked = SocketUnits.Asked {
            count.lock()
            calls += 1
            let n = calls
            count.unlock()
            if n == 2 { held.wait() }
            return ([.init(listen: "/run/answer-\(n)", commands: [])], nil)
        }
        XCTAssertEqual(asked.answer().activations.map(\.listen), ["/run/answer-1"], "the first look waits for its answer")
        XCTAssertEqual(asked.answer().activations.map(\.listen), ["/run/answer-1"], "the next takes the last one while a new one is asked for")
        XCTAssertEqual(asked.answer().activations.map(\.listen), ["/run/answer-1"], "and asks no second time meanwhile")
        held.signal()
        let deadline = Date().addingTimeInterval(60)
        var now = ""
        while Date() < deadline, now != "/run/answer-2" {
            now = asked.answer().activations.first?.listen ?? ""
            if now == "/run/answer-1" { usleep(1000) }
        }
        XCTAssertEqual(now, "/run/answer-2", "the answer asked for in the background is the next look's")
    }

    /// A program asked for an answer: its output, its failure, and a deadline it cannot
    /// outlast (it is killed, and the front end goes on).
    func testAProgramsAnswerComesWithinItsDeadlineOrNotAtAll() {
        XCTAssertEqual(try ChildProcess.output("/bin/echo", ["a b", "c"], timeoutMilliseconds: 60_000).get(), "a b c\n")
        guard case .failure(let status) = ChildProcess.output("/bin/false", [], timeoutMilliseconds: 60_000) else { return XCTFail("false succeeded") }
        XCTAssertTrue(status.description.contains("exited with status 1"), status.description)
        guard case .failure(let missing) = ChildProcess.output("/nonexistent/tool", [], timeoutMilliseconds: 60_000) else { return XCTFail("ran nothing") }
        XCTAssertTrue(missing.description.contains("/nonexistent/tool"), missing.description)
        guard case .failure(let hung) = ChildProcess.output("/bin/sleep", ["600"], timeoutMilliseconds: 200) else { return XCTFail("sleep 600 answered") }
        XCTAssertTrue(hung.description.contains("did not answer within 200 ms"), hung.description)
        // none of the caller's descriptors (tetherd's BPF maps, its control socket) is open in it
        let held = open("/dev/null", O_RDONLY) // no close-on-exec, as a careless open would be
        XCTAssertEqual(dup2(held, 200), 200)
        defer { close(held); close(200) }
        let fds = (try? ChildProcess.output("/bin/ls", ["/proc/self/fd"], timeoutMilliseconds: 60_000).get()) ?? ""
        XCTAssertFalse(fds.split(separator: "\n").contains("200"), fds)
        XCTAssertTrue(fds.split(separator: "\n").contains("1"), fds)
    }
}
