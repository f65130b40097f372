// The addresses a node answers for: a handful (the peer's IPv4 and IPv6 addresses, a few service addresses),
// changed only at takeover and failback, and looked up for every ARP request and neighbor solicitation seen.
// A linear scan over a few contiguous 16-byte slots beats hashing at this size, and the storage is allocated
// once, so changing the set at takeover allocates nothing either.

/// Why an address could not be added to a fixed-capacity table.
public enum TakeoverTableError: Error, Hashable, Sendable, BitwiseCopyable {
    /// The table already holds `capacity` entries.
    case full(capacity: Int)
}

/// A fixed-capacity set of IPv4 and IPv6 addresses (IPv4 in `FlowAddress`'s mapped form), in insertion order.
///
///     slots: [ addr 0 | addr 1 | ... | addr count-1 | (free) ... ]   capacity × 16 bytes, allocated once
///
/// Removal moves the last address into the freed slot, so the order is insertion order until a removal.
public struct OwnedAddressSet: ~Copyable {
    public let capacity: Int
    @usableFromInline let slots: UnsafeMutableBufferPointer<FlowAddress>
    @usableFromInline var storedCount = 0

    /// An empty set of at most `capacity` addresses (at least 1).
    public init(capacity: Int) {
        precondition(capacity > 0, "OwnedAddressSet: capacity must be positive")
        self.capacity = capacity
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: FlowAddress(high: 0, low: 0))
    }

    deinit { slots.deallocate() }

    @inlinable public var count: Int { storedCount }
    @inlinable public var isEmpty: Bool { storedCount == 0 }

    /// Address `index` (`0..<count`).
    @inlinable public subscript(index: Int) -> FlowAddress {
        precondition(index >= 0 && index < storedCount, "OwnedAddressSet: index out of range")
        return slots[index]
    }

    @inlinable
    public func contains(_ address: FlowAddress) -> Bool {
        var index = 0
        while index < storedCount {
            if slots[index] == address { return true }
            index += 1
        }
        return false
    }

    @inlinable public func contains(_ address: IPv4Address) -> Bool { contains(FlowAddress(address)) }
    @inlinable public func contains(_ address: IPv6Address) -> Bool { contains(FlowAddress(address)) }

    /// Adds `address`; true if it was not there yet. Throws, adding nothing, when the set is full.
    @inlinable @discardableResult
    public mutating func insert(_ address: FlowAddress) throws(TakeoverTableError) -> Bool {
        if contains(address) { return false }
        guard storedCount < capacity else { throw .full(capacity: capacity) }
        slots[storedCount] = address
        storedCount += 1
        return true
    }

    @discardableResult
    public mutating func insert(_ address: IPAddress) throws(TakeoverTableError) -> Bool {
        try insert(FlowAddress(address))
    }

    /// Removes `address`; true if it was there.
    @inlinable @discardableResult
    public mutating func remove(_ address: FlowAddress) -> Bool {
        var index = 0
        while index < storedCount {
            if slots[index] == address {
                storedCount -= 1
                slots[index] = slots[storedCount]
                return true
            }
            index += 1
        }
        return false
    }

    @inlinable public mutating func removeAll() { storedCount = 0 }

    /// Makes this set hold exactly what `other` holds (`other` may be larger only if its content fits).
    public mutating func replace(with other: borrowing OwnedAddressSet) throws(TakeoverTableError) {
        guard other.count <= capacity else { throw .full(capacity: capacity) }
        for index in 0..<other.count { slots[index] = other.slots[index] }
        storedCount = other.count
    }
}
