internal import CTakeoverBPF
#if canImport(Glibc)
import Glibc
#endif

/// Free UMEM frames (their addresses), last in first out: the frame released last is the likeliest still in
/// cache. Fixed capacity, allocated once; push and pop never allocate.
struct UMEMFrameStack: ~Copyable {
    private let slots: UnsafeMutablePointer<UInt64>
    let capacity: Int
    private(set) var count = 0

    /// A stack holding the frames `first..<first+count` of `frameSize` bytes, lowest address on top.
    init(frames range: Range<Int>, frameSize: Int) {
        capacity = range.count
        slots = .allocate(capacity: max(capacity, 1))
        for frame in range.reversed() { push(UInt64(frame * frameSize)) }
    }

    deinit { slots.deallocate() }

    /// A frame can only come back once; a second push of the same frame would overflow here first.
    @inline(__always)
    mutating func push(_ address: UInt64) {
        precondition(count < capacity, "more UMEM frames returned than the pool holds")
        slots[count] = address
        count &+= 1
    }

    @inline(__always)
    mutating func pop() -> UInt64 {
        precondition(count > 0, "no free UMEM frame")
        count &-= 1
        return slots[count]
    }
}

/// What the kernel and libxdp hand out for one AF_XDP socket, owned in one place so that a failure half-way
/// through opening and a normal close tear down the same way, in the one safe order: the socket (unmaps the
/// RX/TX rings), the UMEM (unmaps fill/completion, closes the fd — the kernel then unbinds the socket and
/// drops it from every XSKMAP), the UMEM area, and last the ring structs libxdp pointed into.
///
/// The ring structs sit at fixed heap addresses: libxdp keeps pointers to them (`fill_save`, `rx`, `tx`), and
/// the inline ring helpers take their addresses, so they must never move.
struct XSKHandles: ~Copyable {
    let fill = Self.allocateRing(xsk_ring_prod())
    let completion = Self.allocateRing(xsk_ring_cons())
    let receive = Self.allocateRing(xsk_ring_cons())
    let transmit = Self.allocateRing(xsk_ring_prod())
    private(set) var area: UnsafeMutableRawPointer?
    private(set) var areaBytes = 0
    private(set) var umem: OpaquePointer?
    private(set) var socket: OpaquePointer?

    init() {}

    private static func allocateRing<Ring>(_ zeroed: Ring) -> UnsafeMutablePointer<Ring> {
        let ring = UnsafeMutablePointer<Ring>.allocate(capacity: 1)
        ring.initialize(to: zeroed)
        return ring
    }

    /// Maps the UMEM area: anonymous memory is page-aligned (the kernel requires it), zeroed, and prefaulted
    /// so the first frames do not take page faults.
    mutating func mapArea(bytes: Int) throws(SystemCallError) {
        try systemCall("mmap(UMEM, \(bytes) bytes)") {
            let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)
            guard let mapped, mapped != UnsafeMutableRawPointer(bitPattern: -1) else { return -1 }
            area = mapped
            areaBytes = bytes
            return 0
        }
    }

    /// Registers the area as UMEM and maps the fill and completion rings (into `fill` and `completion`).
    mutating func createUMEM(_ config: xsk_umem_config) throws(SystemCallError) {
        var config = config
        var created: OpaquePointer?
        try negativeErrnoCall("xsk_umem__create") {
            xsk_umem__create(&created, area, UInt64(areaBytes), fill, completion, &config)
        }
        umem = created
    }

    /// Creates the socket on the UMEM's fd and binds it. A failed attempt leaves the UMEM and its rings usable
    /// for another attempt with other bind flags (libxdp keeps them; the kernel frees only the failed pool).
    mutating func createSocket(interface: String, queue: UInt32, receive wantsReceive: Bool, transmit wantsTransmit: Bool,
                               config: xsk_socket_config) throws(SystemCallError) {
        var config = config
        var created: OpaquePointer?
        let flags = config.bind_flags
        let mode = flags & UInt16(XDP_ZEROCOPY) != 0 ? "zero-copy" : "copy"
        try negativeErrnoCall("xsk_socket__create(\(interface) queue \(queue), \(mode))") {
            xsk_socket__create(&created, interface, queue, umem, wantsReceive ? receive : nil,
                               wantsTransmit ? transmit : nil, &config)
        }
        socket = created
    }

    var fileDescriptor: Int32 { xsk_socket__fd(socket) }

    /// Idempotent; see the type's comment for the order.
    mutating func close() {
        Self.tearDown(socket: socket, umem: umem, area: area, bytes: areaBytes)
        socket = nil
        umem = nil
        area = nil
    }

    private static func tearDown(socket: OpaquePointer?, umem: OpaquePointer?, area: UnsafeMutableRawPointer?, bytes: Int) {
        if let socket { xsk_socket__delete(socket) }
        // Only -EBUSY (a socket still on the UMEM) can come back, and the socket went first.
        if let umem { _ = try? negativeErrnoCall("xsk_umem__delete") { xsk_umem__delete(umem) } }
        if let area { _ = try? systemCall("munmap(UMEM)") { munmap(area, bytes) } }
    }

    deinit {
        Self.tearDown(socket: socket, umem: umem, area: area, bytes: areaBytes)
        fill.deallocate()
        completion.deallocate()
        receive.deallocate()
        transmit.deallocate()
    }
}
