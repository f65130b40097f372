// Public: the inlinable fast paths below use `Atomic`, so clients that inline them must see it.
public import Synchronization

/// Invariant checks inside the ring (reservation bounds, index arithmetic) run in debug builds, or in any build
/// compiled with `-Xswiftc -DTAKEOVER_INTERNAL_CHECKS`. Release builds pay nothing for them. The checks sit in
/// inlinable code, so they follow the configuration of the module that inlines it.
@usableFromInline @inline(__always)
internal var ringChecksEnabled: Bool {
    #if TAKEOVER_INTERNAL_CHECKS
        return true
    #else
        return _isDebugAssertConfiguration()
    #endif
}

/// All of the ring's pointer code: one allocation, made once, holding both shared indices and the slots.
///
/// ```
/// offset 0                      128                            256
/// ┌─ producer index ────────────┬─ consumer index ─────────────┬─ slot 0 … slot capacity-1 ─┐
/// │ Atomic<UInt32>, then unused │ Atomic<UInt32>, then unused  │ Element × capacity         │
/// └─────────────────────────────┴──────────────────────────────┴────────────────────────────┘
/// ```
///
/// Each index owns a 128-byte block, not just a 64-byte line: x86's adjacent-line prefetcher fetches lines in
/// aligned pairs, so two hot lines in one 128-byte pair still bounce between cores (the reason folly and
/// crossbeam pad to 128 too). The slots start on their own block, so writing slot 0 never dirties an index.
///
/// A plain struct of pointers: copying it copies the pointers, never the storage. It is `@unchecked Sendable`
/// because the endpoints on two threads share it; what makes that sound is the index protocol in
/// `SPSCRing` (a slot is touched only by the side that owns it at that moment, and ownership passes with a
/// release store that the other side reads with an acquire load).
@usableFromInline
internal struct _SPSCRingHandle<Element: BitwiseCopyable>: @unchecked Sendable {
    /// Bytes reserved for each shared index (see the diagram).
    @usableFromInline static var indexBlockSize: Int { 128 }

    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let slots: UnsafeMutablePointer<Element>
    /// `capacity - 1`; a free-running counter `& mask` is its slot.
    @usableFromInline let mask: UInt32

    /// Allocates and zero-fills the storage, with both counters starting at `startIndex`.
    init(capacity: Int, startIndex: UInt32) {
        let block = Self.indexBlockSize
        precondition(MemoryLayout<Element>.alignment <= block, "SPSCRing: element alignment above \(block)")
        let (slotBytes, overflow) = capacity.multipliedReportingOverflow(by: MemoryLayout<Element>.stride)
        precondition(!overflow, "SPSCRing: capacity \(capacity) is too large for this element")
        let byteCount = 2 * block + slotBytes
        base = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: block)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
        base.bindMemory(to: Atomic<UInt32>.self, capacity: 1).initialize(to: Atomic(startIndex))
        (base + block).bindMemory(to: Atomic<UInt32>.self, capacity: 1).initialize(to: Atomic(startIndex))
        slots = (base + 2 * block).bindMemory(to: Element.self, capacity: capacity)
        mask = UInt32(capacity - 1)
    }

    /// Frees the storage. Called once, by the ring's deinit, when no endpoint is left.
    func deallocate() {
        producerIndex.deinitialize(count: 1)
        consumerIndex.deinitialize(count: 1)
        base.deallocate()
    }

    @inlinable @inline(__always)
    var capacity: UInt32 { mask &+ 1 }

    /// Written only by the producer: the counter one past the last published slot.
    @inlinable @inline(__always)
    var producerIndex: UnsafeMutablePointer<Atomic<UInt32>> { base.assumingMemoryBound(to: Atomic<UInt32>.self) }

    /// Written only by the consumer: the counter one past the last released slot.
    @inlinable @inline(__always)
    var consumerIndex: UnsafeMutablePointer<Atomic<UInt32>> {
        (base + Self.indexBlockSize).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// The slot a free-running counter maps to. Masking keeps every access inside the storage, whatever the
    /// counter, so a misused endpoint can corrupt the queue's order but never touch memory outside it.
    @inlinable @inline(__always)
    func slot(_ counter: UInt32) -> UnsafeMutablePointer<Element> { slots + Int(counter & mask) }

    @inlinable @inline(__always)
    func read(_ counter: UInt32) -> Element { slot(counter).pointee }

    @inlinable @inline(__always)
    func write(_ element: Element, _ counter: UInt32) { slot(counter).pointee = element }
}
