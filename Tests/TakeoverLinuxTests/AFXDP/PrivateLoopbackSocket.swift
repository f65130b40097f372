import Foundation
import Glibc
import TakeoverLinux

/// One receive-only AF_XDP socket for the whole test process, bound to the loopback of a private network
/// namespace. It only gives an XSKMAP an entry: test runs (BPF_PROG_TEST_RUN) arrive on lo's RX queue 0, and
/// `bpf_redirect_map` returns XDP_REDIRECT only when that queue has a socket. A queue takes one socket at a
/// time and the kernel frees a closed one asynchronously, so sockets per test would collide (EBUSY) with each
/// other — and with anyone else using this host's lo. The namespace lives as long as the socket, i.e. until
/// the process exits; nothing to clean up.
final class PrivateLoopbackSocket: @unchecked Sendable {  // only the immutable descriptor is read after init
    static let shared: PrivateLoopbackSocket = {
        let outcome = ThreadOutcome<PrivateLoopbackSocket>()
        let done = DispatchSemaphore(value: 0)
        // A thread of its own: unshare(CLONE_NEWNET) moves only the calling thread, which then exits.
        let thread = Thread {
            defer { done.signal() }
            outcome.result = Result {
                guard unshareNetworkNamespace() == 0 else {
                    throw NamespaceLab.CommandFailure(command: ["unshare", "CLONE_NEWNET"], status: errno, output: "")
                }
                return PrivateLoopbackSocket(socket: try AFXDPSocket(
                    interface: "lo", configuration: AFXDPConfiguration(frameCount: 64, transmitFrameCount: 0)))
            }
        }
        thread.start()
        done.wait()
        return try! outcome.result.get()
    }()

    let fileDescriptor: Int32
    /// Kept open, never used again.
    private let socket: AFXDPSocket

    private init(socket: AFXDPSocket) {
        self.socket = socket
        fileDescriptor = socket.fileDescriptor
    }

    /// unshare(CLONE_NEWNET): Glibc's Swift module hides unshare (a _GNU_SOURCE declaration), so look it up.
    private static func unshareNetworkNamespace() -> Int32 {
        typealias Unshare = @convention(c) (Int32) -> Int32
        let cloneNewNet: Int32 = 0x4000_0000
        guard let symbol = dlsym(nil, "unshare") else { return -1 }
        return unsafeBitCast(symbol, to: Unshare.self)(cloneNewNet)
    }
}
