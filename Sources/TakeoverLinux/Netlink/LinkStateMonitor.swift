public import TakeoverCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A change the kernel announced on the RTNLGRP_LINK multicast group.
public enum LinkEvent: Hashable, Sendable {
    /// RTM_NEWLINK: an interface appeared or changed (flags, carrier, operational state, MTU, address).
    case changed(LinkInfo)
    /// RTM_DELLINK: the interface is gone.
    case removed(LinkInfo)
    /// The socket's receive queue overflowed (ENOBUFS) and events were lost: re-read the links you follow
    /// (`RouteNetlinkSocket.link(index:)`) instead of trusting the last event.
    case overrun

    public var link: LinkInfo? {
        switch self {
        case .changed(let link), .removed(let link): link
        case .overrun: nil
        }
    }
}

/// Watches link state: carrier up/down, administrative and operational state, for link failover.
///
/// Reads notifications from the network namespace it was opened in. Events that arrive together in one
/// datagram are queued and handed out one per `nextEvent` call.
public final class LinkStateMonitor: Sendable {
    private let socket: NetlinkSocket
    private let pending: Mutex<[LinkEvent]>
    nonisolated(unsafe) private let receiveBuffer: UnsafeMutableRawBufferPointer  // only used under `pending`'s lock

    public init() throws(RouteNetlinkError) {
        do {
            socket = try NetlinkSocket(groups: 1 << (NetlinkSocketConstants.multicastGroupLink - 1))
        } catch {
            throw .systemCall(.watchLinks, error)
        }
        pending = Mutex([])
        receiveBuffer = .allocate(byteCount: RouteNetlinkSocket.receiveCapacity, alignment: 8)
    }

    deinit {
        receiveBuffer.deallocate()
    }

    /// The next link event, or nil if none arrives within `timeout`.
    public func nextEvent(timeout: Duration) throws(RouteNetlinkError) -> LinkEvent? {
        let deadline = ContinuousClock.now + timeout
        return try pending.withLock { (queue) throws(RouteNetlinkError) -> LinkEvent? in
            while queue.isEmpty {
                let received: NetlinkSocket.Received
                do throws(SystemCallError) {
                    received = try socket.receive(into: receiveBuffer, until: deadline)
                } catch where error.errno == ENOBUFS {
                    return .overrun
                } catch {
                    throw .systemCall(.watchLinks, error)
                }
                switch received {
                case .timedOut: return nil
                case .truncated: return .overrun  // a notification larger than the buffer is a lost event
                case .datagram(let count):
                    do throws(NetlinkError) {
                        try Self.decode(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<count]), into: &queue)
                    } catch {
                        throw .malformedReply(.watchLinks, error)
                    }
                }
            }
            return queue.removeFirst()
        }
    }

    private static func decode(_ datagram: UnsafeRawBufferPointer, into queue: inout [LinkEvent]) throws(NetlinkError) {
        var messages = NetlinkMessageIterator(datagram)
        while let message = try messages.next() {
            switch message.type {
            case .newLink: queue.append(.changed(try LinkInfo(decoding: message)))
            case .deleteLink: queue.append(.removed(try LinkInfo(decoding: message)))
            default: continue
            }
        }
    }
}
