import Foundation

/// sd_notify(3) without libsystemd: datagrams to $NOTIFY_SOCKET (a path, or an abstract
/// socket when it starts with '@'). Without the variable (not under systemd) it does nothing.
final class ServiceNotifier: @unchecked Sendable {
    private let fd: Int32
    private var addr = sockaddr_un()
    private var addrLen = socklen_t(0)
    /// Half of $WATCHDOG_USEC, if this process is the one systemd watches.
    let watchdogInterval: TimeInterval?
    private let lock = NSLock()
    private var lastPet = Date.distantPast

    init(environment env: [String: String] = ProcessInfo.processInfo.environment) {
        var interval: TimeInterval?
        if let usec = env["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
           env["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            interval = Double(usec) / 2e6
        }
        watchdogInterval = interval
        guard let path = env["NOTIFY_SOCKET"], !path.isEmpty, path.hasPrefix("/") || path.hasPrefix("@") else {
            fd = -1
            return
        }
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 } // abstract namespace
        let cap = MemoryLayout.size(ofValue: addr.sun_path)
        let n = min(bytes.count, cap - 1)
        withUnsafeMutableBytes(of: &addr.sun_path) { b in for i in 0..<n { b[i] = bytes[i] } }
        addrLen = socklen_t(MemoryLayout<sa_family_t>.size + n)
    }

    deinit { if fd >= 0 { close(fd) } }

    var enabled: Bool { fd >= 0 }

    /// Sends one state string (e.g. "READY=1\nSTATUS=…"). Failures are logged, never fatal.
    func notify(_ state: String) {
        guard fd >= 0 else { return }
        let bytes = Array(state.utf8)
        let rc = bytes.withUnsafeBytes { buf in
            withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL), $0, addrLen) }
            }
        }
        if rc < 0 { log("sd_notify \(state.split(separator: "\n").first ?? ""): \(String(cString: strerror(errno)))") }
    }

    func ready(status: String) { notify("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())") }
    func status(_ s: String) { notify("STATUS=\(s)") }
    func stopping() { notify("STOPPING=1\nSTATUS=stopping") }

    /// RELOADING=1 carries the monotonic time systemd ≥ 253 wants with Type=notify-reload.
    func reloading() {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        notify("RELOADING=1\nMONOTONIC_USEC=\(UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000)")
    }

    /// WATCHDOG=1, at most once per interval; call it from the event loop on every turn.
    func petWatchdog() {
        guard let interval = watchdogInterval else { return }
        lock.lock()
        let due = Date().timeIntervalSince(lastPet) >= interval
        if due { lastPet = Date() }
        lock.unlock()
        if due { notify("WATCHDOG=1") }
    }
}
