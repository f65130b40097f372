import Synchronization
import TakeoverCore
import Testing

/// A `SessionMemory` that records what the table asks of it, and can refuse.
final class RecordingSessionMemory: SessionMemory {
    struct Request: Equatable {
        var byteCount: Int
        var alignment: Int
    }

    let refuses: Bool
    let requests = Mutex<[Request]>([])
    let returned = Mutex<[(UInt, Int)]>([])
    let given = Mutex<UInt>(0)

    init(refuses: Bool = false) { self.refuses = refuses }

    func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        requests.withLock { $0.append(Request(byteCount: byteCount, alignment: alignment)) }
        guard !refuses else { return nil }
        let block = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: alignment)
        given.withLock { $0 = UInt(bitPattern: block) }
        return block
    }

    func deallocate(_ block: UnsafeMutableRawPointer, byteCount: Int) {
        returned.withLock { $0.append((UInt(bitPattern: block), byteCount)) }
        block.deallocate()
    }
}

@Suite struct SessionMemoryTests {
    @Test func theTableTakesItsSlotsFromTheInjectedMemoryAndGivesThemBack() {
        let memory = RecordingSessionMemory()
        do {
            var table = SessionTable(capacity: 1000, seed: 7, memory: memory)
            let byteCount = table.slotCount * MemoryLayout<Session>.stride
            // One block: the slots, then one tag byte per slot and copies of the first 7 tags.
            let blockByteCount = byteCount + table.slotCount + 7
            #expect(memory.requests.withLock { $0 } == [.init(byteCount: blockByteCount, alignment: 128)])
            table.withUnsafeSlotMemory { slots in
                #expect(UInt(bitPattern: slots.baseAddress) == memory.given.withLock { $0 })
                #expect(slots.count == byteCount)
                #expect(UInt(bitPattern: slots.baseAddress) % 128 == 0, "each record is exactly two cache lines")
            }
            for port in UInt16(1)...1000 { #expect(table.insert(flow(clientPort: port)) != nil) }
            #expect(table.insert(flow(clientPort: 1001)) == nil, "full at its capacity")
            for port in UInt16(1)...1000 { #expect(table.find(flow(clientPort: port).reversed) != nil) }
            #expect(memory.returned.withLock { $0.isEmpty })
        }
        let returned = memory.returned.withLock { $0 }
        #expect(returned.count == 1)
        #expect(returned.first?.0 == memory.given.withLock { $0 })
        #expect(returned.first?.1 == memory.requests.withLock { $0.first?.byteCount }, "given back whole")
    }

    @Test func aMemoryWithNoneLeavesTheTableOnTheHeap() {
        let memory = RecordingSessionMemory(refuses: true)
        do {
            var tracker = TCPTracker(capacity: 64, seed: 7, memory: memory)
            let segment = TCPSegment(sequence: 1, acknowledgment: 0, flags: .syn, window: 100, payloadLength: 0)
            #expect(tracker.track(flow(clientPort: 9), segment, at: MonotonicTime(nanoseconds: 1)) == .created)
            tracker.table.withUnsafeSlotMemory { slots in #expect(UInt(bitPattern: slots.baseAddress) % 128 == 0) }
        }
        #expect(memory.requests.withLock { $0.count } == 1)
        #expect(memory.returned.withLock { $0.isEmpty }, "the heap block goes back to the heap, not to this memory")
    }

    /// `prefetch` is only a hint: whatever is prefetched, present or absent, lookups and tracking answer the same.
    @Test func prefetchChangesNothing() {
        var tracker = TCPTracker(capacity: 256, seed: 11)
        let segment = TCPSegment(sequence: 1, acknowledgment: 1, flags: .ack, window: 100, payloadLength: 10)
        for port in UInt16(1)...200 {
            tracker.track(flow(clientPort: port), segment, at: MonotonicTime(nanoseconds: 1))
        }
        let before = (1...400).map { tracker.session(for: flow(clientPort: UInt16($0)))?.original.nextSequence }
        for port in UInt16(1)...400 {
            tracker.prefetch(flow(clientPort: port))
            tracker.table.prefetch(flow(clientPort: port).reversed)
        }
        let after = (1...400).map { tracker.session(for: flow(clientPort: UInt16($0)))?.original.nextSequence }
        #expect(before == after)
        #expect(before.compactMap { $0 }.count == 200)
        #expect(tracker.count == 200)
    }
}
