import Testing
import TakeoverCore

@Suite struct InMemoryPacketQueueTests {
    static func frame(_ marker: UInt8, length: Int = 60) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: Int(marker) &+ $0) }
    }

    /// Drains `source`, copying each lent frame out (what a consumer that keeps bytes must do).
    static func drain<S: PacketSource & ~Copyable>(_ source: inout S, limit: Int = 64) throws(S.ReceiveError)
        -> [(bytes: [UInt8], wire: Int, time: MonotonicTime)]
    {
        var frames: [(bytes: [UInt8], wire: Int, time: MonotonicTime)] = []
        _ = try source.receive(limit: limit) { frame in
            frames.append((Array(frame.bytes), frame.wireLength, frame.timestamp))
        }
        return frames
    }

    @Test func deliversInOrderAcrossWrapAroundAndCountsDrops() {
        var queue = InMemoryPacketQueue(capacity: 3, maximumFrameLength: 128)
        var expected: [[UInt8]] = []
        var marker: UInt8 = 0
        // Every start offset of the ring: fill partly, drain partly, repeat.
        for round in 0..<7 {
            for _ in 0..<(round % 3 + 1) {
                marker &+= 1
                if queue.enqueue(Self.frame(marker), at: MonotonicTime(nanoseconds: UInt64(marker))) {
                    expected.append(Self.frame(marker))
                }
            }
            let received = Self.drain(&queue, limit: 2)
            #expect(received.map(\.bytes) == Array(expected.prefix(2)))
            #expect(received.allSatisfy { $0.time.nanoseconds == UInt64($0.bytes[0]) })
            expected.removeFirst(received.count)
        }
        // Overflow: two more than the free slots are refused and counted.
        let free = queue.capacity - queue.pendingCount
        var refused = 0
        for _ in 0..<(free + 2) {
            marker &+= 1
            if queue.enqueue(Self.frame(marker), at: MonotonicTime(nanoseconds: UInt64(marker))) {
                expected.append(Self.frame(marker))
            } else {
                refused += 1
            }
        }
        #expect(refused == 2)
        #expect(Self.drain(&queue).map(\.bytes) == expected)
        let statistics = queue.statistics()
        #expect(statistics.received + statistics.dropped == UInt64(marker))
        #expect(statistics.dropped == 2)
        #expect(queue.pendingCount == 0)
        #expect(!queue.waitForFrames(timeout: .milliseconds(1)))
    }

    @Test func keepsOnlyTheSnapshotButReportsTheWireLength() {
        let queue = InMemoryPacketQueue(capacity: 2, maximumFrameLength: 64)
        queue.enqueue(Self.frame(9, length: 100), at: .zero)
        var truncated = false
        let handled = queue.receive(limit: 8) { frame in
            truncated = frame.isTruncated
            #expect(frame.bytes.count == 64)
            #expect(frame.wireLength == 100)
            #expect(Array(frame.bytes) == Array(Self.frame(9, length: 100).prefix(64)))
        }
        #expect(handled == 1)
        #expect(truncated)
        #expect(queue.receive(limit: -1) { _ in } == 0)
    }

    @Test func transmittedFramesAreBuiltInPlaceAndReceivable() throws {
        let queue = InMemoryPacketQueue(capacity: 2, maximumFrameLength: 64)
        queue.now = MonotonicTime(nanoseconds: 42)
        #expect(queue.maximumFrameLength == 64)
        var lentAddresses: [UnsafeMutableRawPointer] = []
        let first = try queue.transmit { buffer in
            lentAddresses.append(buffer.baseAddress!)
            #expect(buffer.count == 64)
            buffer.copyBytes(from: Self.frame(1))
            return 60
        }
        #expect(first == .submitted(length: 60))
        #expect(try queue.transmit { _ in 0 } == .abandoned)
        #expect(throws: InMemoryPacketQueue.TransmitError.frameTooLong(length: 65, maximum: 64)) {
            try queue.transmit { _ in 65 }
        }
        #expect(try queue.transmit { buffer in buffer.copyBytes(from: Self.frame(2)); return 60 } == .submitted(length: 60))
        var built = false
        #expect(try queue.transmit { _ in built = true; return 60 } == .noBufferAvailable)
        #expect(!built)
        queue.flush()

        #expect(queue.waitForFrames(timeout: .zero))
        var receivedAddresses: [UnsafeRawPointer] = []
        var frames: [[UInt8]] = []
        _ = queue.receive(limit: 8) { frame in
            receivedAddresses.append(frame.bytes.baseAddress!)
            frames.append(Array(frame.bytes))
            #expect(frame.timestamp == MonotonicTime(nanoseconds: 42))
        }
        #expect(frames == [Self.frame(1), Self.frame(2)])
        // Zero copy: the receiver is lent the very bytes the builder wrote.
        #expect(receivedAddresses.first == UnsafeRawPointer(lentAddresses[0]))
    }

    /// The protocols compose generically: a relay from any source into any sink, building in place.
    @Test func relayFromSourceToSinkThroughTheProtocols() throws {
        func relay<Source: PacketSource & ~Copyable, Sink: PacketSink & ~Copyable>(
            _ source: inout Source, into sink: inout Sink
        ) throws -> Int where Source.ReceiveError == Never {
            var relayed = 0
            var failure: Sink.TransmitError?
            _ = source.receive(limit: .max) { frame in
                do throws(Sink.TransmitError) {
                    let outcome = try sink.transmit { buffer in
                        let length = min(frame.bytes.count, buffer.count)
                        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: frame.bytes[..<length]))
                        return length
                    }
                    if case .submitted = outcome { relayed += 1 }
                } catch { failure = error }
            }
            if let failure { throw failure }
            try sink.flush()
            return relayed
        }
        var source = InMemoryPacketQueue(capacity: 4)
        var sink = InMemoryPacketQueue(capacity: 4)
        for marker in UInt8(1)...3 { source.enqueue(Self.frame(marker), at: .zero) }
        #expect(try relay(&source, into: &sink) == 3)
        #expect(Self.drain(&sink).map(\.bytes) == [Self.frame(1), Self.frame(2), Self.frame(3)])
    }
}
