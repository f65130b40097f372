import Foundation
public import TakeoverCore
import TakeoverLinux

#if canImport(Glibc)
import Glibc
#endif

/// What the client saw of one UDP probe.
public struct UDPProbeSample: Sendable, Codable {
    /// Monotonic ns when it was sent.
    public var sent: UInt64
    /// Monotonic ns when its first answer arrived; nil if none did.
    public var answered: UInt64?
}

/// The UDP side of the client: a sequence-numbered datagram to the group address every `interval` (1 ms or
/// faster), on a dedicated thread paced by a timerfd, answers matched by sequence number, every stamp from
/// `CLOCK_MONOTONIC`. Bounded by `duration` and by the sample capacity.
public final class UDPProber: @unchecked Sendable {
    public let interval: Duration
    private let socket: UDPSocket
    private let target: SocketAddress
    private let capacity: Int
    private let lock = NSLock()
    private var samples: [UDPProbeSample] = []
    private var duplicates = 0
    private var thread: StoppableThread?

    /// Opens the socket in `host`'s namespace and starts probing `target:port` for at most `duration`.
    public init(lab: NetworkLab, host: LabHost, target: IPv4Address, port: UInt16, interval: Duration, duration: Duration) throws {
        self.interval = interval
        self.target = SocketAddress(.v4(target), port: port)
        socket = try lab.withNamespace(of: host) {
            try UDPSocket(bindingTo: SocketAddress(.v4(IPv4Address(0, 0, 0, 0)), port: 0), receiveBufferSize: 1 << 20)
        }
        let intervalNanoseconds = UInt64(interval.components.attoseconds / 1_000_000_000) + UInt64(interval.components.seconds) * 1_000_000_000
        capacity = Int(min(UInt64(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000) / max(intervalNanoseconds, 1) + 1, 2_000_000))
        samples.reserveCapacity(capacity)
        thread = StoppableThread(name: "lab-udp-probe") { [unowned self] control in
            self.probe(intervalNanoseconds: intervalNanoseconds, control: control)
        }
    }

    /// Stops sending, waits `drain` for answers still in flight, and returns every sample.
    public func stop(drain: Duration = .milliseconds(200)) -> (samples: [UDPProbeSample], duplicates: Int) {
        thread?.stop()
        thread = nil
        let deadline = MonotonicClock.now().nanoseconds + UInt64(drain.components.attoseconds / 1_000_000_000) + UInt64(drain.components.seconds) * 1_000_000_000
        while MonotonicClock.now().nanoseconds < deadline {
            receiveAll()
            usleep(1000)
        }
        lock.lock()
        defer { lock.unlock() }
        return (samples, duplicates)
    }

    private func probe(intervalNanoseconds: UInt64, control: StoppableThread) {
        guard let timer = try? TimerFD() else { return }
        try? timer.arm(intervalNanoseconds: intervalNanoseconds)
        var poll = PollSet(fileDescriptors: [socket.fileDescriptor, timer.fileDescriptor])
        var payload = [UInt8](repeating: 0, count: 16)
        while !control.isStopRequested {
            guard (try? poll.wait(timeoutMilliseconds: 20)) != nil else { continue }
            if poll.isReady(1) {
                _ = try? timer.readExpirations()
                lock.lock()
                let sequence = samples.count
                guard sequence < capacity else {
                    lock.unlock()
                    return
                }
                let now = MonotonicClock.now().nanoseconds
                samples.append(UDPProbeSample(sent: now, answered: nil))
                lock.unlock()
                payload.withUnsafeMutableBytes {
                    $0.storeBytes(of: UInt64(sequence).bigEndian, toByteOffset: 0, as: UInt64.self)
                    $0.storeBytes(of: UInt64(0x544B_5052_4F42_4521).bigEndian, toByteOffset: 8, as: UInt64.self)
                }
                _ = payload.withUnsafeBytes { try? socket.send($0, to: target) }
            }
            if poll.isReady(0) { receiveAll() }
        }
    }

    private func receiveAll() {
        var buffer = [UInt8](repeating: 0, count: 64)
        for _ in 0..<1024 {
            guard case .done(let datagram)? = buffer.withUnsafeMutableBytes({ try? socket.receive(into: $0) }) else { return }
            let now = MonotonicClock.now().nanoseconds
            // Only the service the client asked counts: a reply from another address is no answer.
            guard datagram.length == 16, datagram.source == target else { continue }
            let sequence = Int(UInt64(bigEndian: buffer.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))
            lock.lock()
            if sequence < samples.count {
                if samples[sequence].answered == nil { samples[sequence].answered = now } else { duplicates += 1 }
            }
            lock.unlock()
        }
    }
}

/// What the client's TCP stream saw.
public struct TCPStreamReport: Sendable, Codable {
    /// Monotonic ns of every response, in order of arrival.
    public var responses: [UInt64]
    public var requestsSent: Int
    /// Connections made after the first (after a reset, an error or a silent stall).
    public var reconnects: Int
    /// Requests never answered (sent on a connection that then failed, or skipped in the response stream).
    public var lost: Int
    /// Responses whose sequence number was already answered.
    public var duplicated: Int
    /// Monotonic ns of each reconnect.
    public var reconnectTimes: [UInt64]
    /// Monotonic ns when the stream stopped sending.
    public var ended: UInt64 = 0
    /// The longest time between two of the thread's timer ticks handled (ns), while connected: the instrument's own
    /// lateness, as the UDP side's send gap (time spent connecting is left out: it waits by design).
    public var longestTickGap: UInt64 = 0
    /// Monotonic ns when that gap ended.
    public var longestTickGapEnd: UInt64 = 0
}

/// The TCP side of the client: one connection to the group address carrying requests (16 bytes: a sequence number
/// and a marker), each echoed back by the service; the next request goes out at the first `interval` tick after the
/// response arrived (one outstanding, as an RPC client: after a failure it waits on TCP's own retransmission, not on
/// newer data). Responses are checked against the sequence expected next (lost, duplicated). On a reset, an error or end of stream it reconnects (counted). Every stamp
/// from `CLOCK_MONOTONIC`, on a dedicated thread; bounded by the capacity and `stop()`.
public final class TCPStreamProber: @unchecked Sendable {
    private let target: IPv4Address
    private let port: UInt16
    private let lab: NetworkLab
    private let host: LabHost
    private let lock = NSLock()
    private var report = TCPStreamReport(responses: [], requestsSent: 0, reconnects: 0, lost: 0, duplicated: 0, reconnectTimes: [])
    private var thread: StoppableThread?
    /// True once the first connection is up.
    private var connectedOnce = false

    public init(lab: NetworkLab, host: LabHost, target: IPv4Address, port: UInt16, interval: Duration) throws {
        self.lab = lab
        self.host = host
        self.target = target
        self.port = port
        let intervalNanoseconds = UInt64(interval.components.attoseconds / 1_000_000_000) + UInt64(interval.components.seconds) * 1_000_000_000
        thread = StoppableThread(name: "lab-tcp-probe") { [unowned self] control in
            self.run(intervalNanoseconds: intervalNanoseconds, control: control)
        }
    }

    public var isConnected: Bool {
        lock.lock()
        defer { lock.unlock() }
        return connectedOnce
    }

    public func stop(drain: Duration = .milliseconds(200)) -> TCPStreamReport {
        usleep(UInt32(drain.components.attoseconds / 1_000_000_000_000) + UInt32(drain.components.seconds * 1_000_000))
        thread?.stop()
        thread = nil
        lock.lock()
        defer { lock.unlock() }
        report.ended = MonotonicClock.now().nanoseconds
        return report
    }

    /// A connection from the client's namespace (the socket stays there), retried every 50 ms until `control` stops.
    private func connect(control: StoppableThread) -> Int32? {
        while !control.isStopRequested {
            let target = self.target, port = self.port
            if let descriptor = (try? lab.withNamespace(of: host, { LabTCP.connect(to: target, port: port, timeout: .milliseconds(50)) })) ?? nil {
                return descriptor
            }
            usleep(1000)
        }
        return nil
    }

    private func run(intervalNanoseconds: UInt64, control: StoppableThread) {
        guard let timer = try? TimerFD() else { return }
        try? timer.arm(intervalNanoseconds: intervalNanoseconds)
        var nextSequence: UInt64 = 0
        var expected: UInt64 = 0
        var pending = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        var connection: Int32? = connect(control: control)
        lock.lock()
        connectedOnce = connection != nil
        lock.unlock()
        var lastTick: UInt64?
        defer { if let connection { close(connection) } }
        while !control.isStopRequested, let descriptor = connection {
            var poll = PollSet(fileDescriptors: [descriptor, timer.fileDescriptor])
            guard (try? poll.wait(timeoutMilliseconds: 20)) != nil else { continue }
            var failed = false
            if poll.isReady(1) {
                _ = try? timer.readExpirations()
                let now = MonotonicClock.now().nanoseconds
                if let lastTick, now - lastTick > report.longestTickGap {
                    lock.lock()
                    report.longestTickGap = now - lastTick
                    report.longestTickGapEnd = now
                    lock.unlock()
                }
                lastTick = now
            }
            if poll.isReady(1), expected == nextSequence {
                var request = [UInt8](repeating: 0, count: 16)
                request.withUnsafeMutableBytes {
                    $0.storeBytes(of: nextSequence.bigEndian, toByteOffset: 0, as: UInt64.self)
                    $0.storeBytes(of: UInt64(0x544B_5354_5245_414D).bigEndian, toByteOffset: 8, as: UInt64.self)
                }
                let written = request.withUnsafeBytes { send(descriptor, $0.baseAddress, 16, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
                if written == 16 {
                    nextSequence += 1
                    lock.lock()
                    report.requestsSent += 1
                    lock.unlock()
                } else if written < 0 && errno != EAGAIN {
                    failed = true
                }
            }
            if poll.isReady(0) {
                let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if count == 0 || (count < 0 && errno != EAGAIN) {
                    failed = true
                } else if count > 0 {
                    let now = MonotonicClock.now().nanoseconds
                    pending.append(contentsOf: buffer[0..<count])
                    var consumed = 0
                    lock.lock()
                    while pending.count - consumed >= 16 {
                        let sequence = pending.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: consumed, as: UInt64.self)) }
                        consumed += 16
                        if sequence < expected {
                            report.duplicated += 1
                        } else {
                            report.lost += Int(sequence - expected)
                            expected = sequence + 1
                            report.responses.append(now)
                        }
                    }
                    lock.unlock()
                    pending.removeFirst(consumed)
                }
            }
            if failed {
                close(descriptor)
                connection = nil
                // Everything sent on the failed connection and not answered is lost; the new one starts afresh.
                lock.lock()
                report.lost += Int(nextSequence - expected)
                report.reconnects += 1
                report.reconnectTimes.append(MonotonicClock.now().nanoseconds)
                lock.unlock()
                expected = nextSequence
                pending.removeAll()
                connection = connect(control: control)
                lastTick = nil
            }
        }
    }
}
