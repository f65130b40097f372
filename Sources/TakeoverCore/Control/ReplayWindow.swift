/// Sliding anti-replay window over 64-bit sequence numbers (the scheme of RFC 4303 §3.4.3): accepts each
/// sequence number at most once, and nothing older than `size` below the highest seen.
public struct ReplayWindow: Hashable, Sendable {
    public static let size: UInt64 = 64
    public private(set) var highest: UInt64 = 0
    /// Bit i set: `highest - i` was seen.
    private var seen: UInt64 = 0
    private var empty = true

    public init() {}

    /// Records `sequence` if it is new and within the window; returns false for a replay or a too-old number.
    public mutating func accept(_ sequence: UInt64) -> Bool {
        if empty {
            (empty, highest, seen) = (false, sequence, 1)
            return true
        }
        if sequence > highest {
            let shift = sequence - highest
            seen = shift >= Self.size ? 1 : seen << shift | 1
            highest = sequence
            return true
        }
        let age = highest - sequence
        guard age < Self.size else { return false }
        let bit: UInt64 = 1 << age
        guard seen & bit == 0 else { return false }
        seen |= bit
        return true
    }
}
