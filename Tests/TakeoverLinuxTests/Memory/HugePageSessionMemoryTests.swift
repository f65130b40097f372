import Foundation
import TakeoverCore
import TakeoverLinux
import Testing

@Suite struct HugePageSessionMemoryTests {
    /// Whether a mapping of this process covers `address` (from /proc/self/maps).
    static func isMapped(_ address: UInt) throws -> Bool {
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        return maps.split(separator: "\n").contains { line in
            let range = line.prefix { $0 != " " }.split(separator: "-")
            guard range.count == 2, let low = UInt(range[0], radix: 16), let high = UInt(range[1], radix: 16) else {
                return false
            }
            return low <= address && address < high
        }
    }

    @Test(arguments: [true, false])
    func aTableOnHugePageMemoryWorksAndUnmapsItsSlotsWhenItEnds(explicitFirst: Bool) throws {
        var start: UInt = 0
        do {
            var table = SessionTable(
                capacity: 100_000, seed: 3, memory: HugePageSessionMemory(useExplicitHugePages: explicitFirst))
            let huge = table.withUnsafeSlotMemory { slots -> Int? in
                start = UInt(bitPattern: slots.baseAddress)
                return HugePageSessionMemory.hugePageBytes(in: slots.baseAddress!, byteCount: slots.count)
            }
            #expect(start % UInt(HugePageSessionMemory.hugePageSize) == 0, "2 MiB-aligned, so THP can back it")
            #expect(try Self.isMapped(start))
            let bytes = try #require(huge, "/proc/self/smaps unreadable")
            // Whether the kernel found free huge pages is its business (THP is advice): report it, do not assert it.
            print("HugePageSessionMemory(explicit first: \(explicitFirst)): \(bytes >> 20) MiB on huge pages")
            for port in UInt16(1)...5000 {
                let key = FlowKey(
                    source: FlowAddress(IPv4Address(192, 0, 2, 1)),
                    destination: FlowAddress(IPv4Address(198, 51, 100, 7)), sourcePort: port, destinationPort: 80,
                    protocolNumber: IPProtocolNumber.tcp)
                #expect(table.insert(key) != nil)
                #expect(table.find(key.reversed) != nil)
            }
            #expect(table.count == 5000)
        }
        #expect(try !Self.isMapped(start), "the table's deinit gave the mapping back")
    }
}
