import Testing

@testable import TakeoverCore

/// The payload store's bounds: windows never exceed their buffer, never hold a hole, and say exactly what they
/// hold; entries are claimed, evicted and freed as documented.
@Suite struct SessionPayloadStoreTests {
    static let client = FlowAddress(IPv4Address(192, 0, 2, 10))
    static let server = FlowAddress(IPv4Address(192, 0, 2, 20))
    static let flow = FlowKey(
        source: client, destination: server, sourcePort: 40_000, destinationPort: 7000, protocolNumber: IPProtocolNumber.tcp)

    static func segment(_ sequence: UInt32, _ length: Int, ack: UInt32 = 0, flags: TCPFlags = .ack) -> TCPSegment {
        TCPSegment(sequence: sequence, acknowledgment: ack, flags: flags, window: 100, payloadLength: UInt32(length))
    }

    /// Bytes that say where they are: byte n of a stream holds n·7 mod 251.
    static func bytes(at sequence: UInt32, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: (UInt64(sequence &+ UInt32($0)) &* 7) % 251) }
    }

    static func capture(
        _ store: inout SessionPayloadStore, _ flow: FlowKey, _ sequence: UInt32, _ count: Int, ack: UInt32 = 0,
        flags: TCPFlags = .ack, held: Int? = nil
    ) {
        let payload = bytes(at: sequence, count)
        payload.withUnsafeBytes { raw in
            store.capture(
                flow, segment(sequence, count, ack: ack, flags: flags),
                payload: UnsafeRawBufferPointer(rebasing: raw[0..<(held ?? count)]), at: MonotonicTime(nanoseconds: 1))
        }
    }

    @Test func holdsInOrderBytesAndReadsThemBackExactly() {
        var store = SessionPayloadStore(SessionPayloadStoreConfiguration(sessionCapacity: 4, bytesPerDirection: 256), seed: 1)
        Self.capture(&store, Self.flow, 1000, 100, ack: 5)
        Self.capture(&store, Self.flow, 1100, 50, ack: 9)
        let window = store.window(sending: Self.flow)
        #expect(window == PayloadWindow(start: 1000, end: 1150, acknowledgmentAtLastData: 9))
        #expect(store.bytes(sending: Self.flow, from: 1000, to: 1150) == Self.bytes(at: 1000, 150))
        #expect(store.bytes(sending: Self.flow, from: 1020, to: 1120) == Self.bytes(at: 1020, 100))
        #expect(store.bytes(sending: Self.flow, from: 999, to: 1010) == nil, "before the window")
        #expect(store.bytes(sending: Self.flow, from: 1140, to: 1151) == nil, "past the window")
        #expect(store.window(sending: Self.flow.reversed) == nil, "nothing from the other side yet")
        #expect(store.statistics.bytesStored == 150)
    }

    @Test func aWindowNeverOutgrowsItsBufferAndCountsWhatItPushedOut() {
        var store = SessionPayloadStore(SessionPayloadStoreConfiguration(sessionCapacity: 1, bytesPerDirection: 128, ways: 1), seed: 1)
        Self.capture(&store, Self.flow, 0, 100)
        Self.capture(&store, Self.flow, 100, 100)
        let window = store.window(sending: Self.flow)
        #expect(window?.start == 72 && window?.end == 200)
        #expect(store.statistics.bytesOverwritten == 72)
        #expect(store.bytes(sending: Self.flow, from: 72, to: 200) == Self.bytes(at: 72, 128))
        #expect(store.bytes(sending: Self.flow, from: 71, to: 200) == nil)
        // One segment larger than the buffer keeps its last bytes.
        Self.capture(&store, Self.flow, 200, 300)
        #expect(store.window(sending: Self.flow)?.start == 372)
        #expect(store.bytes(sending: Self.flow, from: 372, to: 500) == Self.bytes(at: 372, 128))
    }

    @Test func aGapRestartsTheWindowAndAnOldSegmentNeverMovesItBack() {
        var store = SessionPayloadStore(SessionPayloadStoreConfiguration(sessionCapacity: 4, bytesPerDirection: 256), seed: 1)
        Self.capture(&store, Self.flow, 0, 100, ack: 1)
        Self.capture(&store, Self.flow, 150, 50, ack: 2)  // 100..<150 never seen
        #expect(store.window(sending: Self.flow) == PayloadWindow(start: 150, end: 200, acknowledgmentAtLastData: 2))
        #expect(store.statistics.windowRestarts == 1)
        // The missing segment arrives late: before the window, ignored; the answer point is not moved by it.
        Self.capture(&store, Self.flow, 100, 50, ack: 99)
        #expect(store.window(sending: Self.flow) == PayloadWindow(start: 150, end: 200, acknowledgmentAtLastData: 2))
        #expect(store.statistics.duplicateSegments == 1)
        // A retransmission overlapping the end adds only its new bytes, and carries the newer acknowledgment.
        Self.capture(&store, Self.flow, 180, 40, ack: 7)
        #expect(store.window(sending: Self.flow) == PayloadWindow(start: 150, end: 220, acknowledgmentAtLastData: 7))
        #expect(store.bytes(sending: Self.flow, from: 150, to: 220) == Self.bytes(at: 150, 70))
        // A frame cut short by the capture is a gap at its end.
        Self.capture(&store, Self.flow, 220, 60, held: 20)
        #expect(store.window(sending: Self.flow)?.start == 280 && store.window(sending: Self.flow)?.count == 0)
        #expect(store.statistics.truncatedSegments == 1)
    }

    @Test(arguments: [64, 128, 256])
    func everyStartOffsetAcrossSequenceWrapMatchesAReference(_ capacity: Int) {
        var random = SplitMix64(seed: UInt64(capacity))
        for startOffset in stride(from: 0, to: capacity, by: 7) {
            var store = SessionPayloadStore(
                SessionPayloadStoreConfiguration(sessionCapacity: 1, bytesPerDirection: capacity, ways: 1), seed: 3)
            // Start just below 2^32 so the stream wraps in sequence space.
            let first = UInt32.max &- UInt32(capacity) &+ UInt32(startOffset)
            var next = first
            for _ in 0..<40 {
                let length = Int(random.next() % UInt64(capacity + capacity / 2)) + 1
                // Sometimes resend part of what came before (a retransmission overlapping the end).
                let back = random.next() % 4 == 0 ? UInt32(random.next() % 32) : 0
                let start = next &- Swift.min(back, next &- first)
                Self.capture(&store, Self.flow, start, length)
                next = SequenceNumber.max(next, start &+ UInt32(length))
                let window = store.window(sending: Self.flow)!
                #expect(window.end == next)
                #expect(window.count <= capacity)
                #expect(window.count == Swift.min(capacity, Int(next &- first)))
                #expect(store.bytes(sending: Self.flow, from: window.start, to: window.end) == Self.bytes(at: window.start, window.count))
            }
        }
    }

    @Test func aFullSetEvictsTheLeastRecentlySeenAndARSTFreesItsEntry() {
        var store = SessionPayloadStore(SessionPayloadStoreConfiguration(sessionCapacity: 2, bytesPerDirection: 64, ways: 2), seed: 1)
        func flow(_ port: UInt16) -> FlowKey {
            FlowKey(source: Self.client, destination: Self.server, sourcePort: port, destinationPort: 7000, protocolNumber: IPProtocolNumber.tcp)
        }
        for (index, port) in [UInt16(1), 2, 3].enumerated() {
            let payload = Self.bytes(at: 0, 10)
            payload.withUnsafeBytes {
                store.capture(flow(port), Self.segment(0, 10), payload: $0, at: MonotonicTime(nanoseconds: UInt64(index + 1)))
            }
        }
        #expect(store.statistics.evictions == 1)
        #expect(store.count == 2)
        #expect(store.window(sending: flow(1)) == nil, "the least recently seen went")
        #expect(store.window(sending: flow(3).reversed) == nil && store.window(sending: flow(3)) != nil)
        store.capture(flow(2).reversed, Self.segment(0, 0, flags: .rst), payload: UnsafeRawBufferPointer(start: nil, count: 0), at: .zero)
        #expect(store.statistics.resets == 1 && store.count == 1)
        #expect(store.window(sending: flow(2)) == nil)
    }

    @Test func aNewSYNOnTheTupleForgetsTheOldConnectionsBytes() {
        var store = SessionPayloadStore(SessionPayloadStoreConfiguration(sessionCapacity: 4, bytesPerDirection: 64), seed: 1)
        Self.capture(&store, Self.flow, 10, 20)
        Self.capture(&store, Self.flow, 500, 0, flags: .syn)
        #expect(store.window(sending: Self.flow) == nil)
    }

    @Test func theStoreAllocatesItsBuffersOnce() {
        let configuration = SessionPayloadStoreConfiguration(sessionCapacity: 10, bytesPerDirection: 1024, ways: 4)
        // 10 sessions round up to 3 sets of 4 ways, two directions each.
        #expect(configuration.payloadBytes == 3 * 4 * 2 * 1024)
    }
}
