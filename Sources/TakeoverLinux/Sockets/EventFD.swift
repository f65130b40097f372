internal import CTakeoverBPF

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A counter a `poll` loop can wait on (`eventfd`): any thread `signal`s, the loop wakes and `drain`s.
/// Signals before a drain coalesce into one wake-up, so a caller puts its work in a queue first, then signals.
public final class EventFD: Sendable {
    public let fileDescriptor: Int32

    public init() throws(SystemCallError) {
        fileDescriptor = try systemCall("eventfd") { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
    }

    deinit { close(fileDescriptor) }

    /// Adds one to the counter, making the descriptor readable. Safe from any thread.
    public func signal() throws(SystemCallError) {
        var one: UInt64 = 1
        // Only a counter at UInt64.max - 1 would block; the loop drains long before.
        _ = try nonBlockingSystemCall("write(eventfd)") { write(fileDescriptor, &one, MemoryLayout<UInt64>.size) }
    }

    /// Reads and resets the counter: how many signals arrived since the last drain (0 if none).
    public func drain() throws(SystemCallError) -> UInt64 {
        var count: UInt64 = 0
        let result = try nonBlockingSystemCall("read(eventfd)") { read(fileDescriptor, &count, MemoryLayout<UInt64>.size) }
        guard case .done = result else { return 0 }
        return count
    }
}
