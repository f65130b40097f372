@testable import TakeoverCore
import Testing

/// The probe over the tag array: tags shared by different keys, runs that wrap past the last slot (also in
/// tables smaller than one 8-tag group), removal's backward shift keeping tags and slots together, and the
/// hash-once API giving the same answers as hashing in the lookup.
@Suite struct SessionTableProbeTests {
    /// The first `count` client ports whose flows (to 198.51.100.7:80 or its IPv6 twin) satisfy `accept`.
    static func ports(count: Int, ipv6: Bool = false, where accept: (FlowKey) -> Bool) -> [UInt16] {
        var found: [UInt16] = []
        for port in UInt16(1)...UInt16.max where found.count < count {
            if accept(flow(clientPort: port, ipv6: ipv6)) { found.append(port) }
        }
        precondition(found.count == count, "not enough ports")
        return found
    }

    /// Keys with the same home slot AND the same tag: the probe must tell them apart by the key itself, for
    /// each key in both directions, before and after removals from the middle of their run.
    @Test(arguments: [false, true])
    func keysSharingHomeAndTagAreToldApartByTheirKeys(ipv6: Bool) {
        var table = SessionTable(capacity: 16, seed: 3)
        let first = table.hash(flow(clientPort: 1, ipv6: ipv6))
        let home = table.home(first)
        let tag = first.tag
        let alike = Self.ports(count: 11, ipv6: ipv6) { key in
            let hash = table.hash(key)
            return table.home(hash) == home && hash.tag == tag
        }
        let ports = Array(alike.prefix(10))
        // An eleventh key with the same home and tag, never inserted.
        let stranger = alike[10]
        for port in ports {
            let slot = table.insert(flow(clientPort: port, ipv6: ipv6))
            #expect(slot != nil)
        }
        #expect(table.count == 10)
        var slots = Set<Int>()
        for port in ports {
            let key = flow(clientPort: port, ipv6: ipv6)
            let slot = table.find(key)
            #expect(slot != nil)
            let reverse = table.find(key.reversed)
            #expect(reverse == slot)
            if let slot {
                #expect(table[slot].key == key)
                slots.insert(slot.index)
            }
        }
        #expect(slots.count == 10, "one slot per key")
        let strangerSlot = table.find(flow(clientPort: stranger, ipv6: ipv6))
        #expect(strangerSlot == nil)
        // Remove every other key (from the middle of the run); the rest are still found, the removed are not.
        for port in ports.enumerated().filter({ $0.offset % 2 == 0 }).map(\.element) {
            let removed = table.remove(flow(clientPort: port, ipv6: ipv6).reversed)
            #expect(removed)
        }
        for (offset, port) in ports.enumerated() {
            let slot = table.find(flow(clientPort: port, ipv6: ipv6))
            #expect((slot != nil) == (offset % 2 == 1))
            if let slot { #expect(table[slot].key.sourcePort == port) }
        }
        #expect(table.count == 5)
    }

    /// Keys homed at the last slot fill it and continue at slot 0, 1, …: in tables of every size around one
    /// 8-tag group (fewer slots than a group: a group read wraps more than once) and larger.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 9, 13, 40])
    func aRunPastTheLastSlotWrapsToTheFirst(capacity: Int) {
        var table = SessionTable(capacity: capacity, seed: 5)
        let last = table.slotCount - 1
        let ports = Self.ports(count: capacity + 1) { table.home(table.hash($0)) == last }
        for port in ports.prefix(capacity) {
            let slot = table.insert(flow(clientPort: port))
            #expect(slot != nil)
        }
        // The run occupies the last slot, then the first slots in order.
        let expected = [last] + Array(0..<(capacity - 1))
        let indices = ports.prefix(capacity).map { table.find(flow(clientPort: $0).reversed)?.index }
        #expect(indices == expected)
        // Full: the next key with the same home is refused, and not found.
        let refused = table.insert(flow(clientPort: ports[capacity]))
        #expect(refused == nil)
        let notFound = table.find(flow(clientPort: ports[capacity]))
        #expect(notFound == nil)
        // Removing the key in the last slot shifts the wrapped run back across the end.
        let removed = table.remove(flow(clientPort: ports[0]))
        #expect(removed)
        let shifted = ports.dropFirst().prefix(capacity - 1).map { table.find(flow(clientPort: $0))?.index }
        #expect(shifted == Array(([last] + Array(0..<(capacity - 1))).prefix(capacity - 1)))
        // Re-insert the removed key: it goes to the end of the run.
        let reinserted = table.insert(flow(clientPort: ports[0]))
        #expect(reinserted?.index == (capacity == 1 ? last : capacity - 2))
        #expect(table.count == capacity)
        var seen = 0
        table.forEach { _ in seen += 1 }
        #expect(seen == capacity)
    }

    /// Removals and re-insertions, checked against a model after every step in tables smaller than, equal to
    /// and larger than one group, near full (long runs that wrap): every tag stays with its slot.
    @Test(arguments: [5, 6, 8, 12, 100])
    func deleteThenReinsertKeepsTagsAndSlotsTogether(capacity: Int) {
        var table = SessionTable(capacity: capacity, seed: 0xC0FFEE)
        var model = Set<UInt16>()
        var random = SplitMix64(seed: UInt64(capacity))
        let universe = UInt16(capacity + capacity / 2)
        for _ in 0..<(capacity * 60) {
            let port = UInt16(random.next() % UInt64(universe))
            let ipv6 = port % 3 == 0
            if model.contains(port) {
                let removed = table.remove(flow(clientPort: port, ipv6: ipv6))
                #expect(removed)
                model.remove(port)
            } else if model.count < capacity {
                let slot = table.insert(flow(clientPort: port, ipv6: ipv6).reversed)
                #expect(slot != nil)
                model.insert(port)
            }
        }
        #expect(table.count == model.count)
        for port in 0..<universe {
            let key = flow(clientPort: port, ipv6: port % 3 == 0)
            let slot = table.find(key)
            #expect((slot != nil) == model.contains(port))
            if let slot {
                #expect(table[slot].key == key.reversed)
                let (stored, expected) = (table.tags[slot.index], table.hash(key).tag)
                #expect(stored == expected, "the slot's tag is its key's")
            }
        }
        // Every occupied slot has a tag and every empty one has none; the copies past the end match.
        var occupied = 0
        for index in 0..<table.slotCount where table.tags[index] != 0 { occupied += 1 }
        #expect(occupied == model.count)
        for copy in 0..<(SessionTable.groupWidth - 1) {
            #expect(table.tags[table.slotCount + copy] == table.tags[copy % table.slotCount])
        }
    }

    /// `key` changed in one field only, or with its ports swapped but not its addresses (not its reverse).
    static func nearMisses(of key: FlowKey) -> [FlowKey] {
        var near: [FlowKey] = []
        for change in 0..<8 {
            var other = key
            switch change {
            case 0: other.source.high ^= 1 << 60
            case 1: other.source.low ^= 1
            case 2: other.destination.high ^= 1 << 40
            case 3: other.destination.low ^= 1 << 20
            case 4: other.sourcePort &+= 1
            case 5: other.destinationPort &+= 1
            case 6: other.protocolNumber = IPProtocolNumber.udp
            // Ports swapped, addresses not (its reverse has the addresses swapped and the ports not).
            default: (other.sourcePort, other.destinationPort) = (key.destinationPort, key.sourcePort)
            }
            near.append(other)
        }
        return near
    }

    /// The compare itself, on a record, with no hash or tag in front of it (a key differing only in its
    /// protocol has another hash, so the table alone would not show a compare that skips the protocol).
    @Test(arguments: [false, true])
    func theWideCompareLooksAtEveryFieldInBothDirections(ipv6: Bool) {
        let key = flow(clientPort: 40000, ipv6: ipv6)
        var record = Session.empty
        record.key = key
        withUnsafeMutablePointer(to: &record) { slot in
            #expect(SessionTable.matchedSide(slot, key) == .original)
            #expect(SessionTable.matchedSide(slot, key.reversed) == .reply)
            for other in Self.nearMisses(of: key) {
                #expect(SessionTable.matchedSide(slot, other) == nil, "\(other)")
                #expect(SessionTable.matchedSide(slot, other.reversed) == nil, "\(other)")
            }
        }
        // A flow from an endpoint to itself is its own reverse: the original side.
        var loop = key
        loop.destination = key.source
        loop.destinationPort = key.sourcePort
        record.key = loop
        withUnsafeMutablePointer(to: &record) { slot in
            #expect(SessionTable.matchedSide(slot, loop) == .original)
        }
    }

    /// Keys that differ from a stored key in one field only, or in a swap that is not the reverse flow, are
    /// other flows in the table too: each gets its own slot, found from both directions.
    @Test(arguments: [false, true])
    func nearMissesAreOtherFlows(ipv6: Bool) {
        var table = SessionTable(capacity: 64, seed: 9)
        let key = flow(clientPort: 40000, ipv6: ipv6)
        let slot = table.insert(key)
        let near = Self.nearMisses(of: key)
        for other in near {
            let (forward, backward) = (table.find(other), table.find(other.reversed))
            #expect(forward == nil, "\(other)")
            #expect(backward == nil, "\(other)")
        }
        for other in near {
            let inserted = table.insert(other.reversed)
            #expect(inserted != nil)
        }
        #expect(table.count == 9)
        let again = table.find(key)
        #expect(again == slot)
        for other in near {
            let found = table.find(other)
            #expect(found != nil && found != slot)
            let reverse = table.find(other.reversed)
            #expect(reverse == found)
        }
    }

    /// The hash `prefetch` returns is `hash(key)`, the same for both directions, and a lookup or a track given
    /// it answers exactly as one that hashes.
    @Test func theHashComputedOnceAnswersAsHashingAgain() {
        var hashed = TCPTracker(capacity: 300, seed: 21)
        var once = TCPTracker(capacity: 300, seed: 21)
        var random = SplitMix64(seed: 77)
        var time = MonotonicTime(nanoseconds: 1)
        for round in 0..<2000 {
            let port = UInt16(random.next() % 400)
            let key = random.next() & 1 == 0 ? flow(clientPort: port) : flow(clientPort: port, ipv6: true).reversed
            let hash = once.prefetch(key)
            let (reverseHash, tableHash) = (once.hash(key.reversed), once.table.hash(key))
            #expect(hash == reverseHash)
            #expect(hash == tableHash)
            let (given, rehashed) = (once.table.find(key, hash: hash), once.table.find(key))
            #expect(given == rehashed)
            let flags: TCPFlags = round % 97 == 0 ? [.rst, .ack] : round % 5 == 0 ? .syn : .ack
            let segment = TCPSegment(
                sequence: UInt32(round) &* 100, acknowledgment: UInt32(round), flags: flags, window: 500,
                payloadLength: flags == .ack ? 100 : 0)
            time = time + 1000
            let (tracked, trackedHashing) = (once.track(key, segment, at: time, hash: hash), hashed.track(key, segment, at: time))
            #expect(tracked == trackedHashing)
            if round % 7 == 0 {
                let udp = FlowKey(
                    source: key.source, destination: key.destination, sourcePort: key.sourcePort,
                    destinationPort: 53, protocolNumber: IPProtocolNumber.udp)
                let result = once.trackUDP(udp, payloadLength: 10, at: time, hash: once.prefetch(udp))
                let resultHashing = hashed.trackUDP(udp, payloadLength: 10, at: time)
                #expect(result == resultHashing)
            }
        }
        #expect(once.statistics == hashed.statistics)
        #expect(once.statistics.tableFull > 0, "the table filled up: the full path ran too")
        #expect(once.count == hashed.count)
        once.table.forEach { session in
            let twin = hashed.session(for: session.key)
            #expect(twin?.key == session.key)
            #expect(twin?.original.nextSequence == session.original.nextSequence)
            #expect(twin?.reply.acknowledgment == session.reply.acknowledgment)
            #expect(twin?.flags == session.flags)
        }
    }

    /// A full table refuses a new flow given its hash as it does without, counts it, and still updates
    /// existing flows (either direction) with theirs.
    @Test func aFullTableRefusesThroughTheHashOnceAPI() {
        var tracker = TCPTracker(capacity: 4, seed: 8)
        let ack = TCPSegment(sequence: 10, acknowledgment: 20, flags: .ack, window: 100, payloadLength: 5)
        for port in UInt16(1)...4 {
            let key = flow(clientPort: port)
            let result = tracker.track(key, ack, at: MonotonicTime(nanoseconds: 1), hash: tracker.prefetch(key))
            #expect(result == .created)
        }
        let fifth = flow(clientPort: 5, ipv6: true)
        let refused = tracker.track(fifth, ack, at: MonotonicTime(nanoseconds: 2), hash: tracker.prefetch(fifth))
        #expect(refused == .tableFull)
        #expect(tracker.table.refusedWhenFull == 1)
        #expect(tracker.statistics.tableFull == 1)
        let back = flow(clientPort: 2).reversed
        let updated = tracker.track(back, ack, at: MonotonicTime(nanoseconds: 3), hash: tracker.prefetch(back))
        #expect(updated == .updated)
        let session = tracker.session(for: back)
        #expect(session?.reply.nextSequence == 15, "the reverse direction updated the reply side")
        #expect(tracker.count == 4)
    }
}
