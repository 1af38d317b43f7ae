import Foundation
import TetherCore
import TetherPipeline
import TetherProbe
import XCTest

/// Kernel tier: loads the real BPF programs (root) and runs real child processes under
/// real sessions. A load failure fails every kernel test; the only way to skip them is
/// to ask for it by name: TETHER_SKIP_KERNEL_TESTS=1.
final class KernelHarness: @unchecked Sendable {
    let probe: Probe
    let reader: EventReader
    private let lock = NSLock()
    private var bySession: [SessionID: [Event]] = [:]
    private var untracked: [Event] = []
    /// The one pipeline, as every front end runs it (no responder: these tests act themselves).
    let pipeline = Pipeline(policy: .default, source: .live, responder: nil) { _ in }
    var table: ProcessTable { pipeline.table }

    static let loaded: Result<KernelHarness, Error> = Result { try KernelHarness() }

    static func shared() throws -> KernelHarness {
        if ProcessInfo.processInfo.environment["TETHER_SKIP_KERNEL_TESTS"] == "1" {
            throw XCTSkip("TETHER_SKIP_KERNEL_TESTS=1 asked to skip kernel tests")
        }
        switch loaded {
        case .success(let h): return h
        case .failure(let e): throw KernelLoadFailure(message: "BPF programs failed to load: \(e)")
        }
    }

    struct KernelLoadFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    private init() throws {
        probe = try Probe()
        pipeline.log = { _ in }
        var box: KernelHarness?
        reader = EventReader(probe: probe, sink: { e in box?.collect(&e) })
        box = self
        reader.start()
    }

    private func collect(_ e: inout Event) {
        pipeline.handle(&e)
        lock.lock()
        defer { lock.unlock() }
        bySession[e.session, default: []].append(e)
    }

    func events(_ session: SessionID) -> [Event] {
        lock.lock()
        defer { lock.unlock() }
        return bySession[session] ?? []
    }

    /// Every event of every session seen so far.
    func allEvents() -> [Event] {
        lock.lock()
        defer { lock.unlock() }
        return bySession.values.flatMap { $0 }
    }

    struct Run {
        var session: SessionID
        var pid: Int32
        var status: Int32
        var events: [Event]
        func of(_ kind: EventKind) -> [Event] { events.filter { $0.kind == kind } }
    }

    /// Runs `argv` as a new session; returns once the root has exited and its exit event
    /// arrived, plus `settle` for stragglers (descendants that outlive the root).
    func run(_ argv: [String], cwd: String? = nil, until: ((([Event]) -> Bool))? = nil,
             timeout: TimeInterval = 10) throws -> Run {
        let session = SessionID.random()
        let started = try Launcher.spawn(argv, cwd: cwd, session: session, probe: probe)
        let status = Launcher.wait(started.pid)
        let deadline = Date().addingTimeInterval(timeout)
        let done: ([Event]) -> Bool = until ?? { evs in evs.contains { $0.kind == .exit && $0.pid == started.pid } }
        while !done(events(session)) && Date() < deadline {
            usleep(5_000)
        }
        return Run(session: session, pid: started.pid, status: status, events: events(session))
    }

    /// Path of the syscall driver built by `make build/tether-testops`.
    static var testops: String {
        if let p = ProcessInfo.processInfo.environment["TETHER_TESTOPS"] { return p }
        // Tests/KernelTests/KernelHarness.swift -> repo root
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("build/tether-testops").path
    }
}

/// A socket of `type` (SOCK_STREAM, SOCK_DGRAM) bound to 127.0.0.1:`port` (0: a free one),
/// listening if it is a stream, non-blocking; its fd, the port it has, and the errno of a
/// bind or listen that failed (0 when it is ready).
func loopbackSocket(_ type: Int32, port: UInt16 = 0) -> (fd: Int32, port: UInt16, errno: Int32) {
    let fd = socket(AF_INET, type, 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = in_port_t(port).bigEndian
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ready = withUnsafeMutablePointer(to: &a) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    } && (type != Int32(SOCK_STREAM.rawValue) || listen(fd, 8) == 0)
    let err = ready ? 0 : errno
    _ = fcntl(fd, F_SETFL, O_NONBLOCK)
    return (fd, UInt16(bigEndian: a.sin_port), err)
}

/// The datagrams waiting on a non-blocking socket, taken.
func takeDatagrams(_ fd: Int32) -> Int {
    var n = 0, buf = [UInt8](repeating: 0, count: 64)
    while recv(fd, &buf, buf.count, 0) > 0 { n += 1 }
    return n
}

/// A scratch directory per test, removed afterwards.
func makeScratch(_ name: String = #function) throws -> String {
    let base = "/tmp/tether-test-\(getpid())-\(name.filter { $0.isLetter || $0.isNumber })-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    // resolve /tmp if it is a symlink, so expected paths match the kernel's
    return URL(fileURLWithPath: base).resolvingSymlinksInPath().path
}

class KernelTestCase: XCTestCase {
    var k: KernelHarness!
    var scratch: String!

    override func setUpWithError() throws {
        k = try KernelHarness.shared()
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: KernelHarness.testops),
                      "missing \(KernelHarness.testops): run `make build/tether-testops`")
        scratch = try makeScratch(name)
    }

    override func tearDownWithError() throws {
        if let s = scratch { try? FileManager.default.removeItem(atPath: s) }
    }

    /// Runs tether-testops with `ops` as a session.
    func ops(_ ops: [String], cwd: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> KernelHarness.Run {
        let r = try k.run([KernelHarness.testops] + ops, cwd: cwd)
        XCTAssertTrue(r.events.contains { $0.kind == .exit && $0.pid == r.pid },
                      "no exit event for the session root \(r.pid)", file: file, line: line)
        return r
    }

    /// The single event of `kind` matching `where`, with a readable failure.
    func one(_ r: KernelHarness.Run, _ kind: EventKind, file: StaticString = #filePath, line: UInt = #line,
             where pred: (Event) -> Bool = { _ in true }) -> Event? {
        let hits = r.of(kind).filter(pred)
        if hits.isEmpty {
            XCTFail("no \(kind) event matched; \(kind) events seen: \(r.of(kind).map(EventJSON.encode))", file: file, line: line)
            return nil
        }
        return hits.first
    }
}
