// Public: the inlinable fast paths below use `Atomic`, so clients that inline them must see it.
public import Synchronization

/// A lock-free single-producer single-consumer ring of fixed capacity, in the style of libxdp's `xsk` rings.
///
/// The ring never grows and never blocks: a full ring makes `reserve` hand out fewer slots (and `push` return
/// `false`), an empty one makes `peek` find fewer (and `pop` return `nil`). Storage is allocated once, at init.
///
/// ```
/// let ring = SPSCRing<UInt64>(capacity: 4096)
/// // producer thread                              // consumer thread
/// var producer = ring.claimProducer()!            var consumer = ring.claimConsumer()!
/// let n = producer.reserve(64)                    let n = consumer.peek(64)
/// for i in 0..<n { producer[i] = next() }         for i in 0..<n { use(consumer[i]) }
/// producer.submit(n)                              consumer.release(n)
/// ```
///
/// ## Roles, and why this is sound to share
/// The ring itself is a `final class`: both threads must reach the same storage, and the storage must be
/// freed exactly once, after both are done — a reference with a deinit, which is what a class is. It holds
/// only immutable pointers and atomics, so it is `Sendable` and can be captured by any thread's closure.
///
/// The per-side state (a side's own counter, its cached copy of the other side's, its open reservation) is
/// mutable and must be touched by one thread only. It lives in the two endpoints, `Producer` and
/// `Consumer`: `~Copyable` structs, so an endpoint cannot be duplicated, and claimed through an atomic flag,
/// so at most one of each exists at any moment. "Single producer, single consumer" is thereby enforced, not
/// merely documented. An endpoint is `Sendable` (it can be claimed on one thread and handed to another);
/// dropping it gives the role back, and a later `claim…` resumes exactly where it stopped. (Escaping
/// closures cannot consume a non-copyable value, so a thread usually claims its endpoint itself.)
///
/// ## Indices and memory order
/// Two free-running `UInt32` counters: the producer index (one past the last published slot) and the
/// consumer index (one past the last released slot). `producer - consumer` (wrapping) is the fill level,
/// always in `0...capacity`; a counter's slot is `counter & (capacity - 1)`. Capacity is a power of two
/// ≤ 2³¹, so wrapping subtraction stays exact across the counters' overflow at 2³².
///
/// - The producer writes slots with plain stores, then publishes them with a **release** store of the
///   producer index. The consumer reads the producer index with an **acquire** load before reading those
///   slots, so every slot write happens-before the consumer's read of it.
/// - The consumer reads slots, then hands them back with a **release** store of the consumer index. The
///   producer reads the consumer index with an **acquire** load before overwriting those slots, so the
///   consumer's reads happen-before the producer's overwrites (no slot is overwritten while being read).
/// - Each index has exactly one writer, which keeps a private copy of it and never loads it back.
/// - Each side caches the other side's index and reloads it only when the cache says there is not enough
///   room (producer) or data (consumer) for the request. In steady state most batches cost no access to the
///   other side's cache line at all; the reload is the only point where the lines travel between cores.
/// - The two indices sit in separate 128-byte blocks (see `_SPSCRingHandle`) so the producer's stores
///   never invalidate the line the consumer's index lives on, and vice versa.
///
/// On x86 (TSO) acquire loads and release stores compile to plain `mov`s; the orderings still matter, as
/// they stop the compiler from moving slot accesses across the index accesses, and they are what ARM needs.
public final class SPSCRing<Element: BitwiseCopyable>: Sendable {
    @usableFromInline let handle: _SPSCRingHandle<Element>
    private let producerClaimed = Atomic<Bool>(false)
    private let consumerClaimed = Atomic<Bool>(false)

    /// The number of slots, a power of two, fixed for the ring's life.
    public var capacity: Int { Int(handle.capacity) }

    /// A ring with `capacity` slots; `capacity` must be a power of two in `1...2³¹`.
    public convenience init(capacity: Int) { self.init(capacity: capacity, startIndex: 0) }

    /// Starts both counters at `startIndex` instead of 0 — tests use it to exercise wrap-around and the
    /// counters' overflow at 2³² without pushing four billion items first.
    init(capacity: Int, startIndex: UInt32) {
        precondition(
            capacity > 0 && capacity <= 1 << 31 && capacity & (capacity - 1) == 0,
            "SPSCRing: capacity \(capacity) is not a power of two in 1...2^31")
        handle = _SPSCRingHandle(capacity: capacity, startIndex: startIndex)
    }

    deinit { handle.deallocate() }

    /// The producer endpoint, or `nil` while another one exists.
    public func claimProducer() -> Producer? {
        guard producerClaimed.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else { return nil }
        return Producer(ring: self)
    }

    /// The consumer endpoint, or `nil` while another one exists.
    public func claimConsumer() -> Consumer? {
        guard consumerClaimed.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else { return nil }
        return Consumer(ring: self)
    }

    /// Items published and not yet released. A snapshot: exact only while neither side is moving.
    public var count: Int {
        let consumer = handle.consumerIndex.pointee.load(ordering: .acquiring)
        let producer = handle.producerIndex.pointee.load(ordering: .acquiring)
        // The two loads are not one atomic snapshot; clamp what a moving ring can make of their difference.
        return min(max(Int(Int32(bitPattern: producer &- consumer)), 0), capacity)
    }

    fileprivate func giveBackProducer() { producerClaimed.store(false, ordering: .releasing) }
    fileprivate func giveBackConsumer() { consumerClaimed.store(false, ordering: .releasing) }

    /// The writing side. Reserve slots, write them by offset, submit them — or `push` one item at a time.
    public struct Producer: ~Copyable, Sendable {
        @usableFromInline let ring: SPSCRing
        @usableFromInline let handle: _SPSCRingHandle<Element>
        /// The next counter to publish: this side's private copy of the producer index, which only it writes.
        @usableFromInline var next: UInt32
        /// Cached consumer index + capacity: the producer may fill slots up to, not including, this counter
        /// without looking at the consumer's index again.
        @usableFromInline var limit: UInt32
        /// Slots handed out by the last `reserve` and not yet submitted.
        @usableFromInline var reserved: UInt32

        fileprivate init(ring: SPSCRing) {
            self.ring = ring
            handle = ring.handle
            // A previous producer (if any) published its last store before giving the role back, and the
            // claim's acquire made it visible here.
            next = handle.producerIndex.pointee.load(ordering: .relaxed)
            limit = handle.consumerIndex.pointee.load(ordering: .acquiring) &+ handle.capacity
            reserved = 0
        }

        deinit { ring.giveBackProducer() }

        /// Reserves up to `wanted` free slots and returns how many it got (fewer when the ring is that full).
        /// Write them with `self[0] … self[count - 1]`, then `submit` them. A new `reserve` replaces an open
        /// reservation.
        @inlinable
        public mutating func reserve(_ wanted: Int) -> Int {
            precondition(wanted >= 0, "SPSCRing.Producer.reserve: negative count")
            let wanted = UInt32(truncatingIfNeeded: Swift.min(wanted, Int(UInt32.max)))
            var free = limit &- next
            if free < wanted {
                limit = handle.consumerIndex.pointee.load(ordering: .acquiring) &+ handle.capacity
                free = limit &- next
                if ringChecksEnabled {
                    precondition(free <= handle.capacity, "SPSCRing: consumer index ran past the producer's")
                }
            }
            reserved = min(free, wanted)
            return Int(reserved)
        }

        /// The reserved slot at `offset` (`0..<reserved count`), relative to the reservation's start.
        @inlinable
        public subscript(offset: Int) -> Element {
            get {
                checkReserved(offset)
                return handle.read(next &+ UInt32(truncatingIfNeeded: offset))
            }
            nonmutating set {
                checkReserved(offset)
                handle.write(newValue, next &+ UInt32(truncatingIfNeeded: offset))
            }
        }

        /// Publishes the first `count` reserved slots (`count` ≤ the reservation) to the consumer.
        @inlinable
        public mutating func submit(_ count: Int) {
            // One unsigned compare covers both a negative count and one above the reservation.
            precondition(UInt(bitPattern: count) <= UInt(reserved), "SPSCRing.Producer.submit: more than reserved")
            next &+= UInt32(truncatingIfNeeded: count)
            reserved = 0
            handle.producerIndex.pointee.store(next, ordering: .releasing)
        }

        /// Appends one item; `false` (and nothing written) when the ring is full.
        @inlinable
        public mutating func push(_ element: Element) -> Bool {
            guard reserve(1) == 1 else { return false }
            handle.write(element, next)
            submit(1)
            return true
        }

        @inlinable @inline(__always)
        func checkReserved(_ offset: Int) {
            if ringChecksEnabled {
                precondition(offset >= 0 && offset < Int(reserved), "SPSCRing.Producer: offset outside reservation")
            }
        }
    }

    /// The reading side. Peek at published slots, read them by offset, release them — or `pop` one at a time.
    public struct Consumer: ~Copyable, Sendable {
        @usableFromInline let ring: SPSCRing
        @usableFromInline let handle: _SPSCRingHandle<Element>
        /// The next counter to read: this side's private copy of the consumer index, which only it writes.
        @usableFromInline var next: UInt32
        /// Cached producer index: the consumer may read slots up to, not including, this counter without
        /// looking at the producer's index again.
        @usableFromInline var limit: UInt32
        /// Slots shown by the last `peek` and not yet released.
        @usableFromInline var peeked: UInt32

        fileprivate init(ring: SPSCRing) {
            self.ring = ring
            handle = ring.handle
            next = handle.consumerIndex.pointee.load(ordering: .relaxed)
            limit = handle.producerIndex.pointee.load(ordering: .acquiring)
            peeked = 0
        }

        deinit { ring.giveBackConsumer() }

        /// Looks at up to `wanted` published items and returns how many there are (fewer when the ring holds
        /// fewer). Read them with `self[0] … self[count - 1]`, then `release` them.
        @inlinable
        public mutating func peek(_ wanted: Int) -> Int {
            precondition(wanted >= 0, "SPSCRing.Consumer.peek: negative count")
            let wanted = UInt32(truncatingIfNeeded: Swift.min(wanted, Int(UInt32.max)))
            var available = limit &- next
            if available < wanted {
                limit = handle.producerIndex.pointee.load(ordering: .acquiring)
                available = limit &- next
                if ringChecksEnabled {
                    precondition(available <= handle.capacity, "SPSCRing: producer index ran past capacity")
                }
            }
            peeked = min(available, wanted)
            return Int(peeked)
        }

        /// The peeked item at `offset` (`0..<peeked count`), relative to the oldest unreleased item.
        @inlinable
        public subscript(offset: Int) -> Element {
            if ringChecksEnabled {
                precondition(offset >= 0 && offset < Int(peeked), "SPSCRing.Consumer: offset outside peek")
            }
            return handle.read(next &+ UInt32(truncatingIfNeeded: offset))
        }

        /// Hands the first `count` peeked slots (`count` ≤ the peek) back to the producer.
        @inlinable
        public mutating func release(_ count: Int) {
            precondition(UInt(bitPattern: count) <= UInt(peeked), "SPSCRing.Consumer.release: more than peeked")
            next &+= UInt32(truncatingIfNeeded: count)
            peeked = 0
            handle.consumerIndex.pointee.store(next, ordering: .releasing)
        }

        /// Removes and returns the oldest item; `nil` when the ring is empty.
        @inlinable
        public mutating func pop() -> Element? {
            guard peek(1) == 1 else { return nil }
            let element = handle.read(next)
            release(1)
            return element
        }
    }
}
