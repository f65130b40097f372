import CTakeoverBPF
import Foundation
import Glibc

/// A minimal AF_XDP socket (copy mode, RX only) for tests: bound to lo queue 0 it only gives the XSKMAP an
/// entry (test runs arrive on lo's RX queue 0, and `bpf_redirect_map` returns XDP_REDIRECT only when that queue
/// has a socket); bound to a veth it receives what the program redirects. Not the AF_XDP backend: no TX, no
/// recycling. Rings live at fixed heap addresses because libxdp keeps pointers to them.
final class BoundXDPSocket: @unchecked Sendable {  // immutable after init; only the fd is read
    /// One socket for the whole test process, bound to the loopback of a private network namespace: a queue
    /// takes one socket at a time and the kernel frees a closed one asynchronously, so sockets per test would
    /// collide (EBUSY) with each other — and with anyone else using this host's lo. The namespace lives as long
    /// as the socket, i.e. until the process exits; nothing to clean up.
    static let onPrivateLoopback: BoundXDPSocket = {
        let outcome = ThreadOutcome<BoundXDPSocket>()
        let done = DispatchSemaphore(value: 0)
        // A thread of its own: unshare(CLONE_NEWNET) moves only the calling thread, which then exits.
        let thread = Thread {
            defer { done.signal() }
            guard unshareNetworkNamespace() == 0 else {
                outcome.result = .failure(Failure(call: "unshare(CLONE_NEWNET)", code: -errno))
                return
            }
            outcome.result = Result { try BoundXDPSocket() }
        }
        thread.start()
        done.wait()
        return try! outcome.result.get()
    }()

    let fileDescriptor: Int32
    private let umemArea: UnsafeMutableRawPointer
    private let fill = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
    private let completion = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
    private let receive = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
    private var umem: OpaquePointer?

    /// unshare(CLONE_NEWNET): Glibc's Swift module hides unshare (a _GNU_SOURCE declaration), so look it up.
    private static func unshareNetworkNamespace() -> Int32 {
        typealias Unshare = @convention(c) (Int32) -> Int32
        let cloneNewNet: Int32 = 0x4000_0000
        guard let symbol = dlsym(nil, "unshare") else { return -1 }
        return unsafeBitCast(symbol, to: Unshare.self)(cloneNewNet)
    }
    private var socket: OpaquePointer?

    struct Failure: Error, CustomStringConvertible {
        let call: String
        let code: Int32
        var description: String { "\(call): \(String(cString: strerror(-code)))" }
    }

    private static let frameCount = 64
    private static let frameSize = Int(XSK_UMEM__DEFAULT_FRAME_SIZE)

    init(interface: String = "lo", queue: UInt32 = 0) throws {
        let size = Self.frameCount * Self.frameSize
        umemArea = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: Int(getpagesize()))
        var result = xsk_umem__create(&umem, umemArea, UInt64(size), fill, completion, nil)
        guard result == 0 else { throw Failure(call: "xsk_umem__create", code: result) }

        var config = xsk_socket_config()
        config.rx_size = UInt32(XSK_RING_CONS__DEFAULT_NUM_DESCS)
        config.tx_size = 0
        config.libxdp_flags = UInt32(XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD)
        config.bind_flags = UInt16(XDP_COPY)
        result = xsk_socket__create(&socket, interface, queue, umem, receive, nil, &config)
        guard result == 0 else { throw Failure(call: "xsk_socket__create(\(interface))", code: result) }
        fileDescriptor = xsk_socket__fd(socket)
    }

    /// Hands every UMEM frame to the kernel to receive into (once; frames are not recycled).
    func fillAllFrames() {
        var index: UInt32 = 0
        let count = UInt32(Self.frameCount)
        precondition(xsk_ring_prod__reserve(fill, count, &index) == count, "fill ring smaller than the UMEM")
        for frame in 0..<count {
            xsk_ring_prod__fill_addr(fill, index + frame).pointee = UInt64(frame) * UInt64(Self.frameSize)
        }
        xsk_ring_prod__submit(fill, count)
    }

    /// Copies of the frames waiting in the RX ring, after waiting at most `timeoutMilliseconds` for the first.
    func receivedFrames(timeoutMilliseconds: Int32) -> [[UInt8]] {
        var waiter = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
        _ = poll(&waiter, 1, timeoutMilliseconds)
        var index: UInt32 = 0
        let count = xsk_ring_cons__peek(receive, UInt32(Self.frameCount), &index)
        var frames: [[UInt8]] = []
        for offset in 0..<count {
            let descriptor = xsk_ring_cons__rx_desc(receive, index + offset).pointee
            let data = xsk_umem__get_data(umemArea, descriptor.addr)
            frames.append(Array(UnsafeRawBufferPointer(start: data, count: Int(descriptor.len))))
        }
        xsk_ring_cons__release(receive, count)
        return frames
    }

    deinit {
        if socket != nil { xsk_socket__delete(socket) }
        if umem != nil { _ = xsk_umem__delete(umem) }
        umemArea.deallocate()
        fill.deallocate()
        completion.deallocate()
        receive.deallocate()
    }
}
