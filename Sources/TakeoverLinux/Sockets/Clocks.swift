public import TakeoverCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `CLOCK_MONOTONIC`: the time base of the failure detector, the state machine and the failover timeline.
/// Shared by every thread and every network namespace of the machine, so stamps from two nodes of a lab
/// compare directly.
public enum MonotonicClock {
    @inline(__always)
    public static func now() -> MonotonicTime {
        MonotonicTime(nanoseconds: read(CLOCK_MONOTONIC, "clock_gettime(CLOCK_MONOTONIC)"))
    }
}

/// `CLOCK_REALTIME` in ns since 1970: a heartbeat sender's incarnation (larger after every restart,
/// even across reboots, where the monotonic clock starts over).
public enum RealtimeClock {
    public static func nanoseconds() -> UInt64 {
        read(CLOCK_REALTIME, "clock_gettime(CLOCK_REALTIME)")
    }
}

@inline(__always)
private func read(_ clock: clockid_t, _ call: StaticString) -> UInt64 {
    var time = timespec()
    do {
        try systemCall("\(call)") { clock_gettime(clock, &time) }
    } catch {
        // Only an unknown clock id or a bad pointer fail; neither can happen for these two clocks.
        preconditionFailure("\(error)")
    }
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}
