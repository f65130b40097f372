internal import CTakeoverBPF

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A periodic timer on `CLOCK_MONOTONIC` that a `poll` loop can wait on (`timerfd_create`).
///
/// Reading it returns how many periods expired since the last read. More than one means the loop ran late —
/// scheduler, a pause, SIGSTOP — by about that many periods: the input of the failure detector's stall guard.
public final class TimerFD {
    public let fileDescriptor: Int32

    public init() throws(SystemCallError) {
        fileDescriptor = try systemCall("timerfd_create(CLOCK_MONOTONIC)") {
            timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC))
        }
    }

    deinit { close(fileDescriptor) }

    /// Fires every `intervalNanoseconds`, first after `initialDelayNanoseconds` (default: one interval).
    /// Re-arming restarts the schedule and forgets pending expirations.
    public func arm(intervalNanoseconds: UInt64, initialDelayNanoseconds: UInt64? = nil) throws(SystemCallError) {
        precondition(intervalNanoseconds > 0, "a zero interval disarms; call disarm()")
        try set(interval: intervalNanoseconds, initialDelay: initialDelayNanoseconds ?? intervalNanoseconds)
    }

    /// Fires once, after `delayNanoseconds` (at least 1 ns: zero would disarm).
    public func armOnce(afterNanoseconds delayNanoseconds: UInt64) throws(SystemCallError) {
        try set(interval: 0, initialDelay: max(delayNanoseconds, 1))
    }

    public func disarm() throws(SystemCallError) {
        try set(interval: 0, initialDelay: 0)
    }

    /// Periods expired since the last read; 0 when none has yet (the descriptor is non-blocking).
    public func readExpirations() throws(SystemCallError) -> UInt64 {
        var count: UInt64 = 0
        let result = try nonBlockingSystemCall("read(timerfd)") { read(fileDescriptor, &count, MemoryLayout<UInt64>.size) }
        guard case .done = result else { return 0 }
        return count
    }

    private func set(interval: UInt64, initialDelay: UInt64) throws(SystemCallError) {
        var specification = itimerspec(it_interval: Self.timespec(interval), it_value: Self.timespec(initialDelay))
        try systemCall("timerfd_settime") { timerfd_settime(fileDescriptor, 0, &specification, nil) }
    }

    private static func timespec(_ nanoseconds: UInt64) -> Glibc.timespec {
        Glibc.timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }
}
