#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A fixed set of descriptors a loop waits on for input (`poll`). Built once; waiting allocates nothing.
public struct PollSet {
    private var entries: [pollfd]

    public init(fileDescriptors: [Int32]) {
        entries = fileDescriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    }

    public var count: Int { entries.count }

    /// Waits until a descriptor is readable or `timeoutMilliseconds` pass (-1: no limit); returns how many
    /// are ready (0 on timeout). `EINTR` is retried.
    public mutating func wait(timeoutMilliseconds: Int32) throws(SystemCallError) -> Int {
        let count = nfds_t(entries.count)
        return Int(try entries.withUnsafeMutableBufferPointer { (buffer) throws(SystemCallError) in
            try systemCall("poll") { poll(buffer.baseAddress, count, timeoutMilliseconds) }
        })
    }

    /// Whether the last `wait` found entry `index` readable (or in error, which a read then reports).
    @inline(__always)
    public func isReady(_ index: Int) -> Bool {
        entries[index].revents & Int16(POLLIN | POLLERR | POLLHUP) != 0
    }
}
