import Foundation
import TakeoverCore
import TakeoverLinux

#if canImport(Glibc)
import Glibc
#endif

/// IPv4 TCP sockets for the lab's echo service and client stream (the kernel's own sockets, every call through
/// TakeoverLinux's `systemCall`). Lab code, not the engine's: plain and bounded rather than fast.
enum LabTCP {
    static func address(_ ip: IPv4Address, _ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = ip.rawValue.bigEndian
        return address
    }

    static func withSocketAddress<R>(_ ip: IPv4Address, _ port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = address(ip, port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// A non-blocking TCP socket (close-on-exec).
    static func socket() throws(SystemCallError) -> Int32 {
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        return try systemCall("socket(TCP)") { Glibc.socket(AF_INET, kind, Int32(IPPROTO_TCP)) }
    }

    static func setOption(_ descriptor: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(SystemCallError) {
        var value = value
        try systemCall("setsockopt(\(level), \(name))") {
            setsockopt(descriptor, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// A listening socket on `port`, all addresses (the group address arrives and leaves while it listens).
    static func listen(port: UInt16) throws(SystemCallError) -> Int32 {
        let descriptor = try socket()
        do {
            try setOption(descriptor, SOL_SOCKET, SO_REUSEADDR, 1)
            try systemCall("bind(0.0.0.0:\(port))") {
                withSocketAddress(IPv4Address(0, 0, 0, 0), port) { Glibc.bind(descriptor, $0, $1) }
            }
            try systemCall("listen") { Glibc.listen(descriptor, 64) }
            return descriptor
        } catch {
            close(descriptor)
            throw error
        }
    }

    /// Connects within `timeout`; nil when the connection was refused, reset or not established in time.
    static func connect(to ip: IPv4Address, port: UInt16, timeout: Duration) -> Int32? {
        guard let descriptor = try? socket() else { return nil }
        _ = try? setOption(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        let started = withSocketAddress(ip, port) { Glibc.connect(descriptor, $0, $1) }
        if started != 0 && errno != EINPROGRESS {
            close(descriptor)
            return nil
        }
        // Writable = the handshake finished (PollSet waits for input only).
        var entry = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard (try? systemCall("poll(connect)") { poll(&entry, 1, milliseconds) }) ?? 0 > 0 else {
            close(descriptor)
            return nil
        }
        var failure: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &failure, &length) == 0, failure == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }
}

/// A thread with a stop flag, joined within a bound.
final class StoppableThread: @unchecked Sendable {
    private let lock = NSLock()
    private var stopRequested = false
    private var finished = false
    private var thread: Thread?

    var isStopRequested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopRequested
    }

    init(name: String, _ body: @escaping @Sendable (StoppableThread) -> Void) {
        // Foundation's `Thread.name` does not reach the kernel on Linux; scheduler traces need it there.
        let thread = Thread { [unowned self] in
            LoopThread.nameCurrentThread(name)
            body(self)
            self.lock.lock()
            self.finished = true
            self.lock.unlock()
        }
        thread.name = name
        self.thread = thread
        thread.start()
    }

    /// Asks the thread to stop and waits for it, at most `timeout`; true if it finished.
    @discardableResult
    func stop(timeout: Duration = .seconds(5)) -> Bool {
        lock.lock()
        stopRequested = true
        lock.unlock()
        return waitUntil(timeout: timeout) {
            lock.lock()
            defer { lock.unlock() }
            return finished
        }
    }

    /// Waits for the thread to end on its own, at most `timeout`.
    func join(timeout: Duration) -> Bool {
        waitUntil(timeout: timeout) {
            lock.lock()
            defer { lock.unlock() }
            return finished
        }
    }
}
