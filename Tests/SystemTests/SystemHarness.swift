import Foundation
import XCTest

/// System tier: real systemd (systemd-nspawn --boot of a debootstrapped Debian tree) and a
/// real rsyslogd. Missing tools or the cached tree fail the tests; `make test` installs
/// them (`make deps-system`, build/system/bookworm-*.tar.zst).
enum System {
    static let repo: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static var binDir: String { ProcessInfo.processInfo.environment["TETHER_BIN_DIR"] ?? repo + "/.build/debug" }
    /// What goes into the container: the release binaries `make install` installs (make test
    /// sets it); without it, the debug build with the toolchain's runtime bound in.
    static var installBinDir: String { ProcessInfo.processInfo.environment["TETHER_INSTALL_BIN"] ?? binDir }
    static var testops: String { ProcessInfo.processInfo.environment["TETHER_TESTOPS"] ?? repo + "/build/tether-testops" }
    /// The cached tree `make test` passes; by hand, whichever the Makefile last built.
    static var rootfs: String {
        if let r = ProcessInfo.processInfo.environment["TETHER_ROOTFS"] { return r }
        let dir = repo + "/build/system"
        let name = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.first { $0.hasPrefix("bookworm-") && $0.hasSuffix(".tar.zst") }
        return dir + "/" + (name ?? "bookworm-HASH.tar.zst")
    }

    struct Output {
        var status: Int32
        var out: String
        var err: String
        var both: String { out + err }
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Runs a program to completion (killed after `timeout`). posix_spawn + waitpid, not
    /// Foundation's Process: a command that leaves a background child behind (which may
    /// keep the pipes open) must not hang the test, and every child is reaped here.
    @discardableResult
    static func run(_ path: String, _ args: [String], timeout: TimeInterval = 60, stdin: String? = nil) throws -> Output {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0], inPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0, pipe(&inPipe) == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_adddup2(&fa, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&fa, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&fa, errPipe[1], 2)
        for fd in inPipe + outPipe + errPipe { posix_spawn_file_actions_addclose(&fa, fd) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &fa, nil, argv, environ)
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        if let s = stdin { _ = s.withCString { write(inPipe[1], $0, strlen($0)) } }
        close(inPipe[1])
        guard rc == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw Failure(description: "spawning \(path): \(String(cString: strerror(rc)))")
        }
        var out = [UInt8](), err = [UInt8]()
        var open = [outPipe[0], errPipe[0]]
        var status: Int32 = 0
        var exited = false
        var exitedAt: Date?
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if !exited, waitpid(pid, &status, WNOHANG) == pid { exited = true; exitedAt = Date() }
            if open.isEmpty && exited { break }
            // a background grandchild may hold the pipes: stop reading shortly after the child exits
            if let t = exitedAt, Date().timeIntervalSince(t) > 0.3 { break }
            if Date() > deadline && !exited { kill(pid, SIGKILL) }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), 50)
            for f in fds where f.revents != 0 {
                var buf = [UInt8](repeating: 0, count: 65536)
                let n = read(f.fd, &buf, buf.count)
                if n > 0 {
                    if f.fd == outPipe[0] { out += buf[0..<n] } else { err += buf[0..<n] }
                } else {
                    open.removeAll { $0 == f.fd }
                }
            }
        }
        close(outPipe[0]); close(errPipe[0])
        if !exited { waitpid(pid, &status, 0) }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(status: code, out: String(decoding: out, as: UTF8.self), err: String(decoding: err, as: UTF8.self))
    }

    static func sh(_ cmd: String, timeout: TimeInterval = 60) throws -> Output {
        try run("/bin/sh", ["-c", cmd], timeout: timeout)
    }

    /// The path of a tool, or a failure naming the package that provides it.
    static func require(_ tool: String, package: String) throws -> String {
        for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin"] where access(dir + "/" + tool, X_OK) == 0 {
            return dir + "/" + tool
        }
        throw Failure(description: "\(tool) is missing: install \(package) (`make deps-system`)")
    }

    /// Polls until `cond` holds or `timeout` passes; returns whether it held.
    static func eventually(_ timeout: TimeInterval = 15, every: TimeInterval = 0.1, _ cond: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if try cond() { return true }
            usleep(useconds_t(every * 1e6))
        } while Date() < deadline
        return try cond()
    }

    static func scratch(_ name: String) throws -> String {
        // /var/tmp, not /tmp: the tree is large and /tmp may be a small tmpfs
        // short: unix socket paths inside must fit in sun_path (108 bytes)
        let tag = String(name.split(separator: " ").last?.filter { $0.isLetter } .prefix(16) ?? "")
        let d = "/var/tmp/tsys-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

/// A booted container: its own systemd as PID 1, Tether installed by `make install-files`.
final class Container {
    let dir: String
    let root: String
    let bpffs: String
    let name: String
    private var nspawn: Process?
    private(set) var leader: Int32 = 0
    private var log: String { dir + "/nspawn.log" }

    /// Unpacks the cached tree, installs Tether into it with the real Makefile target, lets
    /// `prepare` add files, enables tetherd.service, and boots. With `install: false` the
    /// tree boots without Tether (the package test installs it with dpkg, inside).
    init(test: String, install: Bool = true, prepare: (String) throws -> Void) throws {
        let nspawnBin = try System.require("systemd-nspawn", package: "systemd-container")
        _ = try System.require("nsenter", package: "util-linux")
        _ = try System.require("zstd", package: "zstd")
        guard access(System.rootfs, R_OK) == 0 else {
            throw System.Failure(description: "\(System.rootfs) is missing: `make test` (or `make test-system`) builds it (debootstrap, once)")
        }
        for b in ["tetherd", "tether"] where install && access(System.installBinDir + "/" + b, X_OK) != 0 {
            throw System.Failure(description: "\(System.installBinDir)/\(b) is missing: run `make build` (or `swift build`)")
        }
        dir = try System.scratch(test)
        root = dir + "/root"
        bpffs = dir + "/bpffs"
        name = "tether-\(getpid() % 100000)-\(UInt16.random(in: 0...UInt16.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: bpffs, withIntermediateDirectories: true)
        try check(System.run("/bin/tar", ["-C", root, "--zstd", "-xf", System.rootfs]), "unpacking \(System.rootfs)")
        if install {
            try check(System.run("/usr/bin/make", ["-s", "-C", System.repo, "install-files", "DESTDIR=\(root)", "BIN=\(System.installBinDir)"]),
                      "make install-files into the container")
        }
        try check(System.run("/usr/bin/install", ["-D", "-m", "0755", System.testops, root + "/usr/local/bin/tether-agent"]), "installing the test agent")
        try prepare(root)
        if install {
            try check(System.run("/bin/systemctl", ["--root=\(root)", "enable", "tetherd.service"]), "systemctl --root enable tetherd")
        }
        // A bpffs of its own for the pinned map, so nothing is shared with the host.
        try check(System.run("/bin/mount", ["-t", "bpf", "bpf", bpffs]), "mounting a bpffs")

        var args = ["-q", "-D", root, "--boot", "--register=no", "--keep-unit", "--console=pipe", "-M", name,
                    "--capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN",
                    "--system-call-filter=bpf perf_event_open pidfd_open pidfd_send_signal",
                    "--bind-ro=/sys/kernel/tracing", "--bind=\(bpffs):/sys/fs/bpf"]
        if let swiftLibs = Container.swiftRuntimeDirectory() { args.append("--bind-ro=\(swiftLibs)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: nspawnBin)
        p.arguments = args
        p.standardInput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: log, contents: nil)
        let fh = FileHandle(forWritingAtPath: log)
        p.standardOutput = fh
        p.standardError = fh
        try p.run()
        nspawn = p
        let found = System.eventually(20) {
            guard p.isRunning else { return false }
            let r = try? System.run("/usr/bin/pgrep", ["-P", String(p.processIdentifier), "-x", "systemd"])
            if let pid = r.flatMap({ Int32($0.out.trimmingCharacters(in: .whitespacesAndNewlines)) }) { leader = pid }
            return leader > 0
        }
        guard found else { throw System.Failure(description: "the container's systemd did not start: \(bootLog())") }
        guard System.eventually(20, { ((try? exec("test -S /run/systemd/private").status) ?? 1) == 0 }) else {
            throw System.Failure(description: "the container's systemd never opened its private socket: \(bootLog())")
        }
        let state = try exec("systemctl is-system-running --wait", timeout: 60)
        guard ["running", "degraded"].contains(state.out.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw System.Failure(description: "the container did not finish booting (\(state.both)); failed units: \((try? exec("systemctl --failed --no-pager").out) ?? "")")
        }
    }

    /// Where the Swift runtime libraries a debug tetherd links against live (nil if static).
    static func swiftRuntimeDirectory() -> String? {
        guard let out = try? System.run("/usr/bin/ldd", [System.installBinDir + "/tetherd"]).out else { return nil }
        for line in out.split(separator: "\n") where line.contains("libswiftCore.so") {
            if let arrow = line.range(of: "=> ") {
                let path = line[arrow.upperBound...].split(separator: " ").first.map(String.init) ?? ""
                return (path as NSString).deletingLastPathComponent
            }
        }
        return nil
    }

    private func check(_ r: System.Output, _ what: String) throws {
        if r.status != 0 { throw System.Failure(description: "\(what) failed (\(r.status)): \(r.both)") }
    }

    func bootLog() -> String { (try? String(contentsOfFile: log, encoding: .utf8)).map { String($0.suffix(3000)) } ?? "" }

    /// Runs a shell command inside the container (all its namespaces, as its root).
    @discardableResult
    func exec(_ cmd: String, timeout: TimeInterval = 60) throws -> System.Output {
        try System.run("/usr/bin/nsenter", ["-t", String(leader), "-a", "/bin/sh", "-c", cmd], timeout: timeout)
    }

    /// `systemctl show -P PROP tetherd`.
    func unit(_ prop: String) -> String {
        ((try? exec("systemctl show -P \(prop) tetherd").out) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func journal() -> String { (try? exec("journalctl -u tetherd --no-pager -o cat").out) ?? "" }

    /// A file inside the container, read from the host side of the tree.
    func read(_ path: String) -> String { (try? String(contentsOfFile: root + path, encoding: .utf8)) ?? "" }

    func write(_ path: String, _ text: String) throws { try text.write(toFile: root + path, atomically: true, encoding: .utf8) }

    func shutdown() {
        if let p = nspawn, p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(15)
            while p.isRunning && Date() < deadline { usleep(50_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        }
        nspawn = nil
        _ = try? System.run("/bin/umount", ["-l", bpffs])
        try? FileManager.default.removeItem(atPath: dir)
    }

    deinit { shutdown() }
}
