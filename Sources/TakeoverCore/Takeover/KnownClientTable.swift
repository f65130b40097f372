// The neighbours that must learn our MAC at takeover: every host that asked us for the peer's address, and
// every client the session table knows. Recorded per ARP request or solicitation, so the table is fixed in
// size and a lookup is a few probes of an open-addressing index, whatever the table holds.
//
//   entries: [ client 0 | client 1 | ... | client count-1 | (free) ]       dense, insertion order: iteration
//   index:   [ -1 | 3 | -1 | 0 | 1 | -1 | 2 | ... ]  2^k ≥ 2 × capacity     slot → entry, linear probing
//
// There are no single removals (a client that moved is updated in place; a takeover starts a fresh table
// with `removeAll`), so probing needs no tombstones.

/// A neighbour that talks to an address we answer for: its MAC and its IP address (IPv4 mapped).
public struct KnownClient: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public var mac: MACAddress
    public var address: FlowAddress

    @inlinable
    public init(mac: MACAddress, address: FlowAddress) {
        self.mac = mac
        self.address = address
    }

    public init(mac: MACAddress, address: IPAddress) {
        self.init(mac: mac, address: FlowAddress(address))
    }

    public var description: String { "\(address.ipAddress) at \(mac)" }
}

/// A fixed-capacity table of known clients, keyed by IP address, iterated in insertion order.
public struct KnownClientTable: ~Copyable {
    /// What `record` did.
    public enum RecordOutcome: Hashable, Sendable, BitwiseCopyable {
        case inserted
        /// The address was known with another MAC, which was replaced.
        case updated
        case unchanged
        /// The table is full; the client was not recorded.
        case full
    }

    public let capacity: Int
    @usableFromInline let entries: UnsafeMutableBufferPointer<KnownClient>
    @usableFromInline let index: UnsafeMutableBufferPointer<Int32>
    @usableFromInline let indexMask: Int
    @usableFromInline var storedCount = 0

    /// An empty table of at most `capacity` clients (1 ... 2^30).
    public init(capacity: Int) {
        precondition(capacity > 0 && capacity <= 1 << 30, "KnownClientTable: capacity must be in 1...2^30")
        self.capacity = capacity
        var slotCount = 2
        while slotCount < 2 * capacity { slotCount <<= 1 }
        entries = .allocate(capacity: capacity)
        entries.initialize(repeating: KnownClient(mac: .zero, address: FlowAddress(high: 0, low: 0)))
        index = .allocate(capacity: slotCount)
        index.initialize(repeating: -1)
        indexMask = slotCount - 1
    }

    deinit {
        entries.deallocate()
        index.deallocate()
    }

    @inlinable public var count: Int { storedCount }
    @inlinable public var isEmpty: Bool { storedCount == 0 }

    /// Client `position` in insertion order (`0..<count`).
    @inlinable public subscript(position: Int) -> KnownClient {
        precondition(position >= 0 && position < storedCount, "KnownClientTable: position out of range")
        return entries[position]
    }

    /// The index slot holding `address`, or the empty slot where it would go.
    @inlinable
    func slot(for address: FlowAddress) -> Int {
        // Fibonacci hashing of both halves: IPv4 clients differ only in the low bits of `low`.
        let mixed = (address.high &* 0x9E37_79B9_7F4A_7C15) ^ (address.low &* 0xC2B2_AE3D_27D4_EB4F)
        var slot = Int(truncatingIfNeeded: mixed >> 32) & indexMask
        while true {
            let entry = index[slot]
            if entry < 0 || entries[Int(entry)].address == address { return slot }
            slot = (slot + 1) & indexMask
        }
    }

    /// The MAC recorded for `address`.
    @inlinable
    public func mac(for address: FlowAddress) -> MACAddress? {
        let entry = index[slot(for: address)]
        return entry < 0 ? nil : entries[Int(entry)].mac
    }

    /// Records `client`: a new address is appended, a known one takes the new MAC.
    @inlinable @discardableResult
    public mutating func record(_ client: KnownClient) -> RecordOutcome {
        let slot = slot(for: client.address)
        let entry = index[slot]
        if entry >= 0 {
            if entries[Int(entry)].mac == client.mac { return .unchanged }
            entries[Int(entry)].mac = client.mac
            return .updated
        }
        // The index has at least twice as many slots as there are entries, so probing always ends.
        guard storedCount < capacity else { return .full }
        entries[storedCount] = client
        index[slot] = Int32(truncatingIfNeeded: storedCount)
        storedCount += 1
        return .inserted
    }

    /// Forgets every client, in O(count).
    public mutating func removeAll() {
        // Newest first: an entry's probe path then still holds exactly the older entries it stepped over
        // when it was inserted, so `slot(for:)` finds it.
        while storedCount > 0 {
            storedCount -= 1
            index[slot(for: entries[storedCount].address)] = -1
        }
    }
}
