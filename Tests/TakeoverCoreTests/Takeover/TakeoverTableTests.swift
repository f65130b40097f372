import TakeoverCore
import Testing

/// The fixed-capacity tables against a plain Swift model, on seeded random operations.
@Suite struct TakeoverTableTests {
    @Test(arguments: [1, 2, 7, 64])
    func knownClientTableMatchesADictionary(capacity: Int) {
        var random = SplitMix64(seed: 0x7AB1E + UInt64(capacity))
        var table = KnownClientTable(capacity: capacity)
        var model: [FlowAddress: MACAddress] = [:]
        var order: [FlowAddress] = []
        // Few distinct addresses relative to the capacity, so updates, fills and clears all happen.
        let universe = (0..<(capacity * 2 + 2)).map { index -> FlowAddress in
            index % 2 == 0
                ? FlowAddress(IPv4Address(rawValue: 0xC000_0200 | UInt32(index)))
                : FlowAddress(IPv6Address(high: 0x2001_0DB8_0000_0000, low: UInt64(index)))
        }
        for step in 0..<5000 {
            if random.next() % 200 == 0 {
                table.removeAll()
                model = [:]
                order = []
                continue
            }
            let address = universe[Int(random.next() % UInt64(universe.count))]
            let mac = MACAddress(rawValue: 0x0200_0000_0000 | random.next() % 4)
            let outcome = table.record(KnownClient(mac: mac, address: address))
            let expected: KnownClientTable.RecordOutcome
            if let known = model[address] {
                expected = known == mac ? .unchanged : .updated
                model[address] = mac
            } else if model.count == capacity {
                expected = .full
            } else {
                expected = .inserted
                model[address] = mac
                order.append(address)
            }
            #expect(outcome == expected, "step \(step)")
            #expect(table.count == model.count)
            #expect(table.mac(for: address) == model[address])
        }
        #expect((0..<table.count).map { table[$0].address } == order)
        for address in universe { #expect(table.mac(for: address) == model[address]) }
    }

    @Test func ownedAddressSetInsertRemoveAndCapacity() throws {
        var set = OwnedAddressSet(capacity: 2)
        let a = IPAddress.v4(IPv4Address(192, 0, 2, 1))
        let b = IPAddress.v6(IPv6Address("2001:db8::1")!)
        let c = IPAddress.v4(IPv4Address(192, 0, 2, 3))
        #expect(try set.insert(a))
        #expect(try !set.insert(a))
        #expect(try set.insert(b))
        #expect(throws: TakeoverTableError.full(capacity: 2)) { try set.insert(c) }
        #expect(set.contains(IPv4Address(192, 0, 2, 1)) && set.contains(IPv6Address("2001:db8::1")!))
        // An IPv4 address and its mapped IPv6 form are the same flow address, but ::1-style IPv6 is not IPv4.
        let containsOther = set.contains(IPv4Address(0, 0, 0, 1))
        #expect(!containsOther)
        let removed = set.remove(FlowAddress(a))
        let removedAgain = set.remove(FlowAddress(a))
        #expect(removed && !removedAgain)
        #expect(set.count == 1 && set[0] == FlowAddress(b))
        #expect(try set.insert(c))
        var copy = OwnedAddressSet(capacity: 1)
        #expect(throws: TakeoverTableError.full(capacity: 1)) { try copy.replace(with: set) }
        var larger = OwnedAddressSet(capacity: 4)
        try larger.replace(with: set)
        #expect(larger.count == 2 && larger.contains(FlowAddress(b)) && larger.contains(FlowAddress(c)))
        set.removeAll()
        #expect(set.isEmpty && !set.contains(FlowAddress(c)))
    }
}
