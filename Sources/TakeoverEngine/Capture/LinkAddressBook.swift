import Synchronization
public import TakeoverCore

/// The MAC through which each of the peer's correspondents is reached on the segment — the client's own, or
/// its router's — learned from the frames the standby captures. Session records hold no MACs, yet a frame we
/// send to a client at takeover (a reset) must be addressed like the peer addressed it.
///
/// Written by one capture's receive thread (`LinkAddressLearningSource`), read at takeover from any thread.
public final class LinkAddressBook: Sendable {
    /// Addresses it holds at most; later ones are counted, not learned.
    public let capacity: Int
    private let entries: Mutex<[FlowAddress: MACAddress]>
    private let refused = Atomic<UInt64>(0)

    public init(capacity: Int) {
        precondition(capacity > 0, "LinkAddressBook: capacity must be positive")
        self.capacity = capacity
        entries = Mutex([FlowAddress: MACAddress](minimumCapacity: capacity))
    }

    /// The MAC `address` was last seen behind, if any.
    public func mac(for address: FlowAddress) -> MACAddress? {
        entries.withLock { $0[address] }
    }

    /// Runs `body` with every entry, under the lock the receive thread takes once per batch that learned
    /// something: keep it short (takeover looks up its clients in one pass).
    public func withEntries<R>(_ body: ([FlowAddress: MACAddress]) throws -> R) rethrows -> R {
        try entries.withLock { try body($0) }
    }

    public var count: Int { entries.withLock { $0.count } }

    /// Frames whose correspondent was not learned because the book was full.
    public var refusedWhenFull: UInt64 { refused.load(ordering: .relaxed) }

    func noteRefused() { refused.add(1, ordering: .relaxed) }

    /// Applies what one batch learned.
    func apply(_ learned: ArraySlice<(FlowAddress, MACAddress)>) {
        var refusedHere: UInt64 = 0
        entries.withLock { entries in
            for (address, mac) in learned {
                if entries[address] == nil && entries.count >= capacity {
                    refusedHere += 1
                } else {
                    entries[address] = mac
                }
            }
        }
        if refusedHere > 0 { refused.add(refusedHere, ordering: .relaxed) }
    }
}

/// A `PacketSource` that passes every frame on unchanged and, on the way, learns into a `LinkAddressBook`
/// which MAC each correspondent of the peer uses: the source of a frame addressed to the peer's MAC, and the
/// destination of a unicast frame the peer sent.
///
/// Cost per frame: a MAC comparison, and for frames of the peer a header read and a lookup in a dictionary
/// this thread owns (sized at start, so no allocation); the shared book is locked only after a batch that
/// learned something new — rare once the correspondents are known.
public struct LinkAddressLearningSource<Base: PacketSource>: PacketSource {
    public typealias ReceiveError = Base.ReceiveError

    private var base: Base
    /// A reference, so the receive handler can update it while `base` is being mutated.
    private let learner: LinkAddressLearner

    public init(_ base: Base, peerMAC: MACAddress, book: LinkAddressBook) {
        self.base = base
        learner = LinkAddressLearner(peerMAC: peerMAC, book: book)
    }

    public mutating func waitForFrames(timeout: Duration) throws(ReceiveError) -> Bool {
        try base.waitForFrames(timeout: timeout)
    }

    public mutating func receive(limit: Int, _ handler: (ReceivedFrame) -> Void) throws(ReceiveError) -> Int {
        let learner = learner
        let received = try base.receive(limit: limit) { frame in
            learner.learn(from: frame.bytes)
            handler(frame)
        }
        learner.publish()
        return received
    }

    public mutating func statistics() throws(ReceiveError) -> PacketSourceStatistics {
        try base.statistics()
    }
}

/// The receive thread's side of the learning: its own copy of the book and what the current batch learned.
/// Touched by that thread only.
final class LinkAddressLearner {
    private let peerMAC: MACAddress
    private let book: LinkAddressBook
    /// This thread's copy of the book: the lookup the hot path does (sized at start: no growth).
    private var known: [FlowAddress: MACAddress]
    /// What the current batch learned, applied to the book when the batch ends (capacity reserved).
    private var learned: [(FlowAddress, MACAddress)]
    private let learnedLimit = 256

    init(peerMAC: MACAddress, book: LinkAddressBook) {
        self.peerMAC = peerMAC
        self.book = book
        known = Dictionary(minimumCapacity: book.capacity)
        learned = []
        learned.reserveCapacity(learnedLimit)
    }

    func publish() {
        guard !learned.isEmpty else { return }
        book.apply(learned[...])
        learned.removeAll(keepingCapacity: true)
    }

    func learn(from bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 14 else { return }
        let destination = MACAddress(reading: bytes, at: 0)
        let source = MACAddress(reading: bytes, at: 6)
        let towardsPeer = destination == peerMAC
        guard towardsPeer || (source == peerMAC && !destination.isMulticast) else { return }
        guard let ethernet = try? EthernetFrameView(bytes) else { return }
        let ip = ethernet.headerLength
        let address: FlowAddress
        switch ethernet.etherType {
        case EtherType.ipv4:
            guard bytes.count >= ip + 20 else { return }
            address = FlowAddress(IPv4Address(rawValue: bytes.loadBigEndian(at: ip + (towardsPeer ? 12 : 16))))
        case EtherType.ipv6:
            guard bytes.count >= ip + 40 else { return }
            let offset = ip + (towardsPeer ? 8 : 24)
            address = FlowAddress(
                high: bytes.loadBigEndian(at: offset, as: UInt64.self),
                low: bytes.loadBigEndian(at: offset + 8, as: UInt64.self))
        default:
            return
        }
        let mac = towardsPeer ? source : destination
        guard known[address] != mac, learned.count < learnedLimit else { return }
        // The local copy stays within the book's capacity too, so it never grows past its reservation.
        guard known[address] != nil || known.count < book.capacity else {
            book.noteRefused()
            return
        }
        known[address] = mac
        learned.append((address, mac))
    }
}
