import Foundation

/// The kernel's boot-time clock (CLOCK_BOOTTIME), the clock of event times.
public enum BootClock {
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
