import Testing
import TakeoverCore

/// A TCP flow key from 192.0.2.1:`clientPort` to 198.51.100.`server`:80 (IPv4) or 2001:db8:: addresses (IPv6).
func flow(clientPort: UInt16, server: UInt8 = 7, ipv6: Bool = false, protocolNumber: UInt8 = IPProtocolNumber.tcp) -> FlowKey {
    let client: FlowAddress
    let serverAddress: FlowAddress
    if ipv6 {
        client = FlowAddress(high: 0x2001_0db8_0000_0000, low: 1)
        serverAddress = FlowAddress(high: 0x2001_0db8_0000_0000, low: UInt64(server) + 0x100)
    } else {
        client = FlowAddress(IPv4Address(rawValue: 0xC000_0201))
        serverAddress = FlowAddress(IPv4Address(rawValue: 0xC633_6400 | UInt32(server)))
    }
    return FlowKey(source: client, destination: serverAddress, sourcePort: clientPort, destinationPort: 80, protocolNumber: protocolNumber)
}

@Suite struct SessionTableTests {
    @Test func recordFitsInTwoCacheLines() {
        #expect(MemoryLayout<Session>.stride <= 128)
        #expect(MemoryLayout<SessionEndpoint>.stride <= 40)
    }

    @Test func defaultTableIsSizedForAMillionSessions() {
        var table = SessionTable()
        #expect(table.capacity == 1 << 20)
        #expect(table.slotCount == (1 << 20) + (1 << 18))
        let key = flow(clientPort: 1, ipv6: true)
        _ = table.insert(key)
        let found = table.find(key.reversed)
        #expect(found != nil)
    }

    @Test func bothDirectionsFindOneRecord() {
        var table = SessionTable(capacity: 16)
        let key = flow(clientPort: 40000)
        let slot = table.insert(key)
        #expect(slot != nil)
        do { let result = table.find(key); #expect(result == slot) }
        do { let result = table.find(key.reversed); #expect(result == slot) }
        do { let result = table.insert(key.reversed); #expect(result == slot) }
        #expect(table.count == 1)
        #expect(table[slot!].key == key)
        // A different protocol or port is a different flow.
        do { let result = table.find(flow(clientPort: 40000, protocolNumber: IPProtocolNumber.udp)); #expect(result == nil) }
        do { let result = table.find(flow(clientPort: 40001)); #expect(result == nil) }
        do { let removed = table.remove(key.reversed); #expect(removed) }
        do { let result = table.find(key); #expect(result == nil) }
        #expect(table.count == 0)
    }

    @Test func fullTableRefusesAndCounts() {
        var table = SessionTable(capacity: 4)
        for port in 1...4 {
            let result = table.insert(flow(clientPort: UInt16(port)))
            #expect(result != nil)
        }
        do { let result = table.insert(flow(clientPort: 5)); #expect(result == nil) }
        do { let result = table.insert(flow(clientPort: 6, ipv6: true)); #expect(result == nil) }
        #expect(table.refusedWhenFull == 2)
        #expect(table.count == 4)
        #expect(table.slotCount == 5)
        // Existing flows are still found and updatable while full; removing one frees room.
        do { let result = table.insert(flow(clientPort: 3).reversed); #expect(result != nil) }
        do { let removed = table.remove(flow(clientPort: 2)); #expect(removed) }
        do { let result = table.insert(flow(clientPort: 5)); #expect(result != nil) }
        #expect(table.refusedWhenFull == 2)
    }

    /// Random inserts and removals on a nearly full table (long probe runs, wrap-around at the end of the
    /// slots) checked against a model: after every removal's backward shift, every remaining key is found and
    /// no removed key is.
    @Test(arguments: [1, 2, 3, 7, 16, 61])
    func removalKeepsEveryProbeRunReachable(capacity: Int) {
        for seed: UInt64 in [0, 1, 0xDEAD_BEEF] {
            var table = SessionTable(capacity: capacity, seed: seed)
            var model = Set<UInt16>()
            var random = SplitMix64(seed: seed &+ UInt64(capacity))
            for _ in 0..<(capacity * 40) {
                let port = UInt16(random.next() % UInt64(capacity * 2 + 1))
                let key = random.next() & 1 == 0 ? flow(clientPort: port) : flow(clientPort: port).reversed
                if random.next() % 3 == 0 || model.count == capacity {
                    do { let result = table.remove(key); #expect(result == model.contains(port)) }
                    model.remove(port)
                } else {
                    do { let result = table.insert(key); #expect(result != nil) }
                    model.insert(port)
                }
                #expect(table.count == model.count)
                for candidate in 0...UInt16(capacity * 2) {
                    let found = table.find(flow(clientPort: candidate)) != nil
                    #expect(found == model.contains(candidate))
                }
            }
        }
    }

    @Test func sweepRemovesOnlyExpiredWithinItsBudget() {
        var table = SessionTable(capacity: 100)
        for port in 0..<100 { table.insert(flow(clientPort: UInt16(port))) }
        var removedPorts: [UInt16] = []
        // Expire the even client ports; the budget bounds each call to a slice of the slots.
        var total = 0
        var calls = 0
        while table.count > 50 && calls < 100 {
            total += table.sweep(slotBudget: 10) { session in
                let expired = session.key.sourcePort % 2 == 0
                if expired { removedPorts.append(session.key.sourcePort) }
                return expired
            }
            calls += 1
        }
        #expect(total == 50)
        #expect(Set(removedPorts).count == 50)
        // One pass: every slot examined once, plus a second look at each slot a removal shifted into.
        #expect(calls <= (table.slotCount + 50 + 9) / 10)
        for port in 0..<100 {
            let found = table.find(flow(clientPort: UInt16(port))) != nil
            #expect(found == (port % 2 == 1))
        }
        do { let result = table.sweep(slotBudget: 1000) { _ in false }; #expect(result == 0) }
    }

    @Test func ipv4AndIPv6FlowsShareTheTable() {
        var table = SessionTable(capacity: 8)
        let v4 = flow(clientPort: 1000)
        let v6 = flow(clientPort: 1000, ipv6: true)
        table.insert(v4)
        table.insert(v6)
        #expect(table.count == 2)
        do {
            let (a, b) = (table.find(v4.reversed), table.find(v6.reversed))
            #expect(a != b)
        }
        #expect(table.session(for: v6.reversed)?.key == v6)
    }
}
