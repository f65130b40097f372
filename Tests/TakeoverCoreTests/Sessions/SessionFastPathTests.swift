@testable import TakeoverCore
import Testing

/// The update path's two shortcuts: the slot `prefetch` found handed on in the `FlowHash` (checked by the
/// slot's stored hash and key, the probe when it no longer holds the key), and `Session.applyCommonACK`, the
/// few-branch update of an ACK on a session both sides already spoke in (the same record as `apply`).
@Suite struct SessionFastPathTests {
    // MARK: The slot hint

    /// `prefetch` hands on the slot holding the key (the first slot whose tag matches), and a lookup given
    /// that hash answers that slot, for both directions.
    @Test func aPrefetchedHashCarriesTheSlotOfItsKey() {
        var table = SessionTable(capacity: 200, seed: 5)
        let keys = (UInt16(1)...200).map { flow(clientPort: $0, ipv6: $0 % 3 == 0) }
        for key in keys {
            let inserted = table.insert(key)
            #expect(inserted != nil)
        }
        var hinted = 0
        for key in keys {
            let slot = table.find(key)!.index
            let hash = table.hash(key)
            // prefetch reads the 8 tags from the home slot on: it names the key's slot when it lies among
            // them and no slot before it there has the same tag.
            let home = table.home(hash)
            let offset = table.distance(from: home, to: slot)
            let first = offset < 8 && (0..<offset).allSatisfy { table.tags[table.wrapped(home + $0)] != hash.tag }
            for direction in [key, key.reversed] {
                let prefetched = table.prefetch(direction)
                if first {
                    hinted += 1
                    #expect(prefetched.slotHint == UInt32(slot))
                }
                let found = table.find(direction, hash: prefetched)
                #expect(found?.index == slot)
            }
        }
        // At load 1.0 (capacity full) some runs are longer than 8: most keys, not all, get a hint.
        #expect(hinted > keys.count, "\(hinted) of \(2 * keys.count) hints name the key's slot")
        // A hash from `hash(_:)` carries no slot, and still finds the key.
        let plain = table.hash(keys[0])
        #expect(plain.slotHint == FlowHash.noSlot)
        #expect(table.find(keys[0], hash: plain) == table.find(keys[0]))
    }

    /// A hint is only a hint: pointing at another key's slot, at the slot a removed key left (its bytes are
    /// still there, its stored hash is 0), at a slot an entry left when the backward shift moved it, or past
    /// the table, the lookup probes and answers as without it.
    @Test(arguments: [false, true])
    func aStaleOrWrongHintFallsBackToTheProbe(ipv6: Bool) {
        var table = SessionTable(capacity: 16, seed: 3)
        // Keys sharing one home slot: one probe run, so a removal shifts the later ones back.
        let home = table.home(table.hash(flow(clientPort: 1, ipv6: ipv6)))
        let ports = SessionTableProbeTests.ports(count: 6, ipv6: ipv6) { table.home(table.hash($0)) == home }
        let keys = ports.map { flow(clientPort: $0, ipv6: ipv6) }
        for key in keys {
            let inserted = table.insert(key)
            #expect(inserted != nil)
        }
        let slots = keys.map { table.find($0)!.index }
        func hint(_ key: FlowKey, _ slot: Int) -> FlowHash {
            FlowHash(table.hash(key).value, slotHint: UInt32(truncatingIfNeeded: slot))
        }
        // Another key's slot.
        #expect(table.find(keys[2], hash: hint(keys[2], slots[4]))?.index == slots[2])
        // Past the table.
        #expect(table.find(keys[2], hash: hint(keys[2], table.slotCount + 3))?.index == slots[2])
        // Removed: the last of the run leaves its bytes in a slot whose stored hash is now 0.
        let stale = hint(keys[5], slots[5])
        let removedLast = table.remove(keys[5])
        #expect(removedLast)
        #expect(table.find(keys[5], hash: stale) == nil)
        #expect(table.find(keys[5].reversed, hash: stale) == nil)
        // Shifted: removing the first of the run moves the others back one slot each.
        let before = hint(keys[3], slots[3])
        let removedFirst = table.remove(keys[0])
        #expect(removedFirst)
        let moved = table.find(keys[3])!.index
        #expect(moved != slots[3], "the backward shift moved it")
        #expect(table.find(keys[3], hash: before)?.index == moved)

    }

    /// The tracker given a prefetched hash updates the right record even when the hinted slot went stale
    /// between the prefetch and the track (the flow removed by expiry, another flow now in its slot).
    @Test func theTrackerChecksAStaleHint() {
        var tracker = TCPTracker(capacity: 16, seed: 3)
        let home = tracker.table.home(tracker.hash(flow(clientPort: 1)))
        let ports = SessionTableProbeTests.ports(count: 4) { tracker.table.home(tracker.hash($0)) == home }
        let keys = ports.map { flow(clientPort: $0) }
        let ack = TCPSegment(sequence: 10, acknowledgment: 20, flags: .ack, window: 100, payloadLength: 5)
        // keys[0] goes idle early; the others stay fresh.
        let first = tracker.track(keys[0], ack, at: MonotonicTime(nanoseconds: 1))
        #expect(first == .created)
        let late = MonotonicTime(nanoseconds: 200 * 1_000_000_000)
        for key in keys.dropFirst() {
            let created = tracker.track(key, ack, at: late)
            #expect(created == .created)
        }
        let hints = keys.map { tracker.prefetch($0) }
        #expect(hints.allSatisfy { $0.slotHint != FlowHash.noSlot })
        // keys[0] expires: the rest of its run shifts back over its slot.
        tracker.timeouts.established = 100 * 1_000_000_000
        let slotCount = tracker.table.slotCount
        let expired = tracker.expire(now: late, slotBudget: slotCount)
        #expect(expired == 1)
        let next = TCPSegment(sequence: 15, acknowledgment: 20, flags: .ack, window: 100, payloadLength: 7)
        for (key, hash) in zip(keys.dropFirst(), hints.dropFirst()) {
            let updated = tracker.track(key, next, at: late + 1, hash: hash)
            #expect(updated == .updated)
            #expect(tracker.session(for: key)?.original.nextSequence == 22)
        }
        // The expired flow with its stale hint: a new session, not an update of what another flow holds.
        let recreated = tracker.track(keys[0], next, at: late + 2, hash: hints[0])
        #expect(recreated == .created)
        #expect(tracker.session(for: keys[0])?.original.payloadBytes == 7)
        #expect(tracker.count == 4)
    }

    // MARK: The two-stage prefetch

    /// `prefetchTags` (stage one) returns the key's hash with no slot; `prefetch(_ hash:)` on it (stage two)
    /// returns what `prefetch(_ key:)` does, slot included.
    @Test func theTwoStagesTogetherAreOnePrefetch() {
        var table = SessionTable(capacity: 300, seed: 9)
        for port in UInt16(1)...300 {
            let inserted = table.insert(flow(clientPort: port, ipv6: port % 4 == 0))
            #expect(inserted != nil)
        }
        var hinted = 0
        for port in UInt16(1)...400 {
            for key in [flow(clientPort: port, ipv6: port % 4 == 0), flow(clientPort: port, ipv6: port % 4 == 0).reversed] {
                let first = table.prefetchTags(key)
                #expect(first == table.hash(key) && first.slotHint == FlowHash.noSlot)
                let second = table.prefetch(first)
                let once = table.prefetch(key)
                #expect(second == once && second.slotHint == once.slotHint)
                if second.slotHint != FlowHash.noSlot { hinted += 1 }
                #expect(table.find(key, hash: second) == table.find(key))
            }
        }
        #expect(hinted > 400, "most present keys get a slot: \(hinted)")
    }

    /// A stream of segments tracked through `forEachPrefetched` — drained in batches of 1 to 70 as from the
    /// capture ring, each batch's groups of 8 prefetched in two stages, expiry between batches — leaves exactly
    /// what tracking each segment on its own leaves: flows created, updated, refused (the table fills), reset,
    /// restarted and expired while their hashes and hints wait in the pipeline.
    @Test func aPipelinedStreamTracksAsOneAtATime() {
        // A flow idle for 40 segments (400 µs) expires, whatever its state: many do.
        var timeouts = SessionTimeouts()
        (timeouts.established, timeouts.transitory, timeouts.timeWait, timeouts.closed) = (400_000, 400_000, 400_000, 400_000)
        var pipelined = TCPTracker(capacity: 64, timeouts: timeouts, seed: 4)
        var direct = TCPTracker(capacity: 64, timeouts: timeouts, seed: 4)
        var random = SplitMix64(seed: 0xB1B0)
        let stream: [(FlowKey, TCPSegment)] = (0..<4000).map { index in
            // 90 flows for a table of 64: it fills, and expiry frees room.
            let port = UInt16(random.next() % 90)
            let key = flow(clientPort: port, ipv6: port % 3 == 0)
            let flags: TCPFlags = index % 61 == 0 ? [.rst, .ack] : index % 13 == 0 ? .syn : .ack
            let segment = TCPSegment(
                sequence: UInt32(index) &* 100, acknowledgment: UInt32(index), flags: flags, window: 500,
                payloadLength: flags == .ack ? 100 : 0)
            return (random.next() & 1 == 0 ? key : key.reversed, segment)
        }
        let hashes = UnsafeMutableBufferPointer<FlowHash>.allocate(capacity: 70)
        defer { hashes.deallocate() }
        var start = 0
        var groupsAhead = 0
        while start < stream.count {
            let count = Swift.min(stream.count - start, Int(random.next() % 70) + 1)
            if count > 2 * TCPTracker.prefetchGroup { groupsAhead += 1 }
            var visited: [Int] = []
            pipelined.forEachPrefetched(count: count, hashes: hashes, key: { stream[start + $0].0 }) { tracker, index, hash in
                visited.append(index)
                let time = MonotonicTime(nanoseconds: UInt64(start + index) * 10_000)
                let (key, segment) = stream[start + index]
                #expect(hash == tracker.hash(key))
                let (viaPipeline, oneAtATime) = (tracker.track(key, segment, at: time, hash: hash), direct.track(key, segment, at: time))
                #expect(viaPipeline == oneAtATime, "segment \(start + index)")
            }
            #expect(visited == Array(0..<count), "every item once, in order")
            start += count
            let now = MonotonicTime(nanoseconds: UInt64(start) * 10_000)
            let (expired, expiredDirect) = (pipelined.expire(now: now, slotBudget: 7), direct.expire(now: now, slotBudget: 7))
            #expect(expired == expiredDirect)
        }
        #expect(groupsAhead > 20, "batches long enough for both stages to run ahead: \(groupsAhead)")
        #expect(pipelined.statistics == direct.statistics)
        let statistics = direct.statistics
        #expect(statistics.tableFull > 0 && statistics.expired > 0 && statistics.restarted > 0 && statistics.ignored > 0, "\(statistics)")
        #expect(pipelined.count == direct.count)
        var compared = 0
        pipelined.table.forEach { session in
            compared += 1
            #expect(direct.session(for: session.key).map(Self.fields) == Self.fields(session))
        }
        #expect(compared == direct.count)
    }

    // MARK: The common-ACK update

    /// Every field of a session, for comparing two records (padding excluded).
    static func fields(_ session: Session) -> [UInt64] {
        var fields: [UInt64] = [UInt64(session.flags.rawValue), UInt64(session.hash)]
        for endpoint in [session.original, session.reply] {
            fields.append(endpoint.lastSeen.nanoseconds)
            let sequences: [UInt32] = [
                endpoint.initialSequence, endpoint.nextSequence, endpoint.acknowledgment, endpoint.timestampValue,
                endpoint.timestampEcho, endpoint.payloadBytes,
            ]
            fields += sequences.map { UInt64($0) }
            let small: [UInt16] = [endpoint.window, endpoint.mss, UInt16(endpoint.windowScale), endpoint.flags.rawValue]
            fields += small.map { UInt64($0) }
        }
        return fields
    }

    /// An established session, handshake seen, both sides sending timestamps.
    static func established() -> Session {
        var tracker = TCPTracker(capacity: 4, seed: 1)
        let key = flow(clientPort: 40000)
        var options = TCPOptionsSummary()
        options.hasTimestamp = true
        options.timestampValue = 100
        options.hasWindowScale = true
        options.windowScale = 7
        let syn = TCPSegment(sequence: 1000, acknowledgment: 0, flags: .syn, window: 64240, payloadLength: 0, options: options)
        let synAck = TCPSegment(sequence: 5000, acknowledgment: 1001, flags: [.syn, .ack], window: 65160, payloadLength: 0, options: options)
        options.hasWindowScale = false
        let ack = TCPSegment(sequence: 1001, acknowledgment: 5001, flags: .ack, window: 502, payloadLength: 0, options: options)
        tracker.track(key, syn, at: MonotonicTime(nanoseconds: 10))
        tracker.track(key.reversed, synAck, at: MonotonicTime(nanoseconds: 20))
        tracker.track(key, ack, at: MonotonicTime(nanoseconds: 30))
        return tracker.session(for: key)!
    }

    /// The common case takes the shortcut from either side; anything else — SYN, FIN, RST, no ACK, SACK
    /// blocks, a peer reporting a hole, a sender whose acknowledgment is unknown — leaves it to `apply`,
    /// untouched.
    @Test func onlyTheCommonACKTakesTheShortcut() {
        let session = Self.established()
        #expect(session.state(.original) == .established && session.state(.reply) == .established)
        let time = MonotonicTime(nanoseconds: 1000)
        let ack = TCPSegment(sequence: 1001, acknowledgment: 5001, flags: [.ack, .psh], window: 500, payloadLength: 100)
        for side in [SessionSide.original, .reply] {
            var copy = session
            let taken = copy.applyCommonACK(ack, from: side, at: time)
            #expect(taken)
        }
        var sack = ack
        sack.options.sackBlockCount = 1
        sack.options.sackBlocks.0 = SACKBlock(left: 6000, right: 6100)
        let others: [TCPSegment] = [
            TCPSegment(sequence: 1001, acknowledgment: 5001, flags: [.ack, .fin], window: 500, payloadLength: 0),
            TCPSegment(sequence: 1001, acknowledgment: 5001, flags: [.ack, .rst], window: 500, payloadLength: 0),
            TCPSegment(sequence: 1001, acknowledgment: 0, flags: .syn, window: 500, payloadLength: 0),
            TCPSegment(sequence: 1001, acknowledgment: 5001, flags: [.syn, .ack], window: 500, payloadLength: 0),
            TCPSegment(sequence: 1001, acknowledgment: 0, flags: .psh, window: 500, payloadLength: 10),
            sack,
        ]
        for segment in others {
            var copy = session
            let taken = copy.applyCommonACK(segment, from: .original, at: time)
            #expect(!taken, "\(segment.flags)")
            #expect(Self.fields(copy) == Self.fields(session))
        }
        var holeReported = session
        holeReported.reply.flags.insert(.missingData)
        var copy = holeReported
        let takenWithHole = copy.applyCommonACK(ack, from: .original, at: time)
        #expect(!takenWithHole)
        #expect(Self.fields(copy) == Self.fields(holeReported))
        var ackUnknown = session
        ackUnknown.original.flags.remove(.acknowledgmentKnown)
        copy = ackUnknown
        let takenAckUnknown = copy.applyCommonACK(ack, from: .original, at: time)
        #expect(!takenAckUnknown)
        #expect(Self.fields(copy) == Self.fields(ackUnknown))
    }

    /// Random records and segments around one another in sequence space (older and newer ACKs, timestamps,
    /// sequences; flags, SACK blocks, holes): wherever the shortcut is taken it leaves exactly the record
    /// `apply` leaves, and where it is not it changes nothing.
    @Test func theShortcutLeavesWhatApplyLeaves() {
        var random = SplitMix64(seed: 0x5E55)
        let base = Self.established()
        func near(_ value: UInt32) -> UInt32 { value &+ UInt32(truncatingIfNeeded: Int(random.next() % 400) - 200) }
        let flagChoices: [TCPFlags] = [.ack, .ack, .ack, [.ack, .psh], [.ack, .fin], [.ack, .rst], .syn, [.syn, .ack], .psh, []]
        let endpointFlags: [SessionEndpointFlags] = [.timestamps, .windowFromSYN, .missingData, .sentFIN]
        var shortcut = 0
        var general = 0
        for _ in 0..<20_000 {
            var session = base
            for side in [SessionSide.original, .reply] {
                session.withEndpoint(side) { endpoint in
                    endpoint.nextSequence = near(endpoint.nextSequence)
                    endpoint.acknowledgment = near(endpoint.acknowledgment)
                    endpoint.timestampValue = near(1000)
                    endpoint.window = UInt16(truncatingIfNeeded: random.next())
                    endpoint.lastSeen = MonotonicTime(nanoseconds: random.next() % 3000)
                    for flag in endpointFlags where random.next() % 4 == 0 { endpoint.flags.formSymmetricDifference(flag) }
                    if random.next() % 16 == 0 { endpoint.flags.remove(.acknowledgmentKnown) }
                    if random.next() % 16 == 0 { endpoint.flags.remove(.sequenceKnown) }
                }
            }
            let side: SessionSide = random.next() & 1 == 0 ? .original : .reply
            let sender = session.endpoint(side)
            var options = TCPOptionsSummary()
            options.hasTimestamp = random.next() % 4 != 0
            options.timestampValue = near(1000)
            options.timestampEcho = UInt32(truncatingIfNeeded: random.next())
            if random.next() % 5 == 0 {
                options.sackBlockCount = 1
                let left = near(sender.acknowledgment)
                options.sackBlocks.0 = SACKBlock(left: left, right: left &+ 100)
            }
            let segment = TCPSegment(
                sequence: near(sender.nextSequence), acknowledgment: near(sender.acknowledgment),
                flags: flagChoices[Int(random.next() % UInt64(flagChoices.count))],
                window: UInt16(truncatingIfNeeded: random.next()), payloadLength: UInt32(random.next() % 3) * 700,
                options: options)
            let time = MonotonicTime(nanoseconds: random.next() % 3000)
            var fast = session
            if fast.applyCommonACK(segment, from: side, at: time) {
                shortcut += 1
                var reference = session
                let applied = reference.apply(segment, from: side, at: time)
                #expect(applied)
                #expect(Self.fields(fast) == Self.fields(reference), "\(segment) from \(side) on \(session)")
            } else {
                general += 1
                #expect(Self.fields(fast) == Self.fields(session))
            }
        }
        // Both ways were exercised, many times.
        #expect(shortcut > 3000 && general > 3000, "shortcut \(shortcut), general \(general)")
    }
}
