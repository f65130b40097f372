public import TakeoverCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Our own rtnetlink client: adds and removes interface addresses and looks up links, over one
/// AF_NETLINK/NETLINK_ROUTE socket, never by running `ip`.
///
/// Each call is a round trip: a request with a fresh sequence number, then datagrams read until the answer is
/// complete, all within `timeout` (a call by interface name makes two: the name lookup first). Replies that
/// do not carry this request's sequence number and this socket's port id — late answers to a request that
/// timed out — are skipped. Calls from several threads are serialised; the socket's buffers are allocated
/// once, here. The engine should resolve its interface index once and use the `interfaceIndex:` forms.
///
/// Interface names and indexes belong to the network namespace the socket was opened in (the opening
/// thread's), whichever thread calls later.
public final class RouteNetlinkSocket: Sendable {
    /// The port id the kernel assigned at bind.
    public var portID: UInt32 { socket.portID }
    /// The bound on waiting for one exchange's whole answer (a dump's last datagram included). A change whose
    /// answer timed out may still have been applied: check (`addresses`) or repeat it and treat "already
    /// done" as done.
    public var timeout: Duration {
        get { exchange.withLock { $0.timeout } }
        set { exchange.withLock { $0.timeout = newValue } }
    }

    private let socket: NetlinkSocket
    /// The last sequence number used and the timeout. The lock is held for a whole round trip, which
    /// serialises exchanges and guards the two buffers below.
    private let exchange: Mutex<ExchangeState>
    nonisolated(unsafe) private let sendBuffer: UnsafeMutableRawBufferPointer
    nonisolated(unsafe) private let receiveBuffer: UnsafeMutableRawBufferPointer

    /// Big enough for any request this type builds (the largest, an IPv6 add with a label, is 80 bytes).
    static let sendCapacity = 256
    /// Dump datagrams are at most 32 KiB (the kernel's cap for dump skbs unless the socket asks for more);
    /// twice that leaves room.
    static let receiveCapacity = 64 * 1024
    /// A dump the kernel marks inconsistent (NLM_F_DUMP_INTR: it changed while being read) is repeated
    /// this many times before the last, possibly inconsistent, answer is returned.
    static let dumpAttempts = 3

    private struct ExchangeState {
        var sequence: UInt32
        var timeout: Duration
    }

    public init(timeout: Duration = .seconds(2)) throws(RouteNetlinkError) {
        do {
            socket = try NetlinkSocket()
        } catch {
            throw .systemCall(.openSocket, error)
        }
        // A random start makes it unlikely that a socket reusing a closed one's port id takes that socket's
        // late replies for its own.
        exchange = Mutex(ExchangeState(sequence: .random(in: .min ... .max), timeout: timeout))
        sendBuffer = .allocate(byteCount: Self.sendCapacity, alignment: 8)
        receiveBuffer = .allocate(byteCount: Self.receiveCapacity, alignment: 8)
    }

    deinit {
        sendBuffer.deallocate()
        receiveBuffer.deallocate()
    }

    // MARK: addresses

    /// Adds `address/prefixLength` to the interface named `interface`. IPv6 addresses are added with
    /// IFA_F_NODAD, so they are usable at once. Throws `.addressAlreadyAssigned` if it is there already.
    public func addAddress(
        _ address: IPAddress, prefixLength: UInt8, interface: String, label: String? = nil
    ) throws(RouteNetlinkError) {
        let operation = RouteNetlinkOperation.addAddress(address, prefixLength: prefixLength, interface: .name(interface))
        let index = try resolve(interface, for: operation)
        try changeAddress(
            .addAddress(InterfaceAddressRequest(
                address: address, prefixLength: prefixLength, interfaceIndex: index, label: label)),
            operation: operation)
    }

    /// As `addAddress(_:prefixLength:interface:label:)`, by interface index.
    public func addAddress(
        _ address: IPAddress, prefixLength: UInt8, interfaceIndex: UInt32, label: String? = nil
    ) throws(RouteNetlinkError) {
        try changeAddress(
            .addAddress(InterfaceAddressRequest(
                address: address, prefixLength: prefixLength, interfaceIndex: interfaceIndex, label: label)),
            operation: .addAddress(address, prefixLength: prefixLength, interface: .index(interfaceIndex)))
    }

    /// Removes `address/prefixLength` from the interface named `interface`. Throws `.addressNotAssigned` if it
    /// is not there (the prefix length must match the one it was added with).
    public func removeAddress(_ address: IPAddress, prefixLength: UInt8, interface: String) throws(RouteNetlinkError) {
        let operation = RouteNetlinkOperation.removeAddress(address, prefixLength: prefixLength, interface: .name(interface))
        let index = try resolve(interface, for: operation)
        try changeAddress(
            .removeAddress(InterfaceAddressRequest(address: address, prefixLength: prefixLength, interfaceIndex: index)),
            operation: operation)
    }

    /// As `removeAddress(_:prefixLength:interface:)`, by interface index.
    public func removeAddress(_ address: IPAddress, prefixLength: UInt8, interfaceIndex: UInt32) throws(RouteNetlinkError) {
        try changeAddress(
            .removeAddress(InterfaceAddressRequest(
                address: address, prefixLength: prefixLength, interfaceIndex: interfaceIndex)),
            operation: .removeAddress(address, prefixLength: prefixLength, interface: .index(interfaceIndex)))
    }

    /// The addresses of every interface, or of the one named `interface`, of `family` (both by default).
    public func addresses(
        interface: String? = nil, family: NetlinkAddressFamily = .unspecified
    ) throws(RouteNetlinkError) -> [InterfaceAddressInfo] {
        let index: UInt32? =
            if let interface { try resolve(interface, for: .getLink(.name(interface))) } else { nil }
        return try addresses(interfaceIndex: index, family: family)
    }

    /// The addresses of the interface with `interfaceIndex` (every interface when nil), of `family`.
    public func addresses(
        interfaceIndex: UInt32?, family: NetlinkAddressFamily = .unspecified
    ) throws(RouteNetlinkError) -> [InterfaceAddressInfo] {
        var found: [InterfaceAddressInfo] = []
        try dump(.dumpAddresses(family), operation: .dumpAddresses, restart: { found.removeAll() }) {
            (message) throws(NetlinkError) in
            guard message.type == .newAddress else { return }
            let address = try InterfaceAddressInfo(decoding: message)
            if interfaceIndex == nil || address.interfaceIndex == interfaceIndex { found.append(address) }
        }
        return found
    }

    // MARK: links

    /// The interface named `name`: index, MAC, MTU, flags, operational state.
    public func link(named name: String) throws(RouteNetlinkError) -> LinkInfo {
        try link(.name(name), operation: .getLink(.name(name)))
    }

    /// The interface with index `index`.
    public func link(index: UInt32) throws(RouteNetlinkError) -> LinkInfo {
        try link(.index(index), operation: .getLink(.index(index)))
    }

    /// Every interface.
    public func links() throws(RouteNetlinkError) -> [LinkInfo] {
        var found: [LinkInfo] = []
        try dump(.dumpLinks, operation: .dumpLinks, restart: { found.removeAll() }) { (message) throws(NetlinkError) in
            if message.type == .newLink { found.append(try LinkInfo(decoding: message)) }
        }
        return found
    }

    // MARK: round trips

    private func resolve(_ name: String, for operation: RouteNetlinkOperation) throws(RouteNetlinkError) -> UInt32 {
        try link(.name(name), operation: operation).index
    }

    private func link(_ reference: InterfaceReference, operation: RouteNetlinkOperation) throws(RouteNetlinkError) -> LinkInfo {
        var found: LinkInfo?
        _ = try roundTrip(.getLink(reference), operation: operation) { (message) throws(NetlinkError) in
            guard message.type == .newLink else { return false }
            found = try LinkInfo(decoding: message)
            return true
        }
        // Without NLM_F_ACK the kernel answers with the link or an error; a bare success ack is not an answer.
        guard let found else { throw .malformedReply(operation, .unexpectedMessageType(.error)) }
        return found
    }

    private func changeAddress(_ request: RouteNetlinkRequest, operation: RouteNetlinkOperation) throws(RouteNetlinkError) {
        _ = try roundTrip(request, operation: operation) { _ throws(NetlinkError) in false }
    }

    /// Runs a dump, repeating it (up to `dumpAttempts`) when the kernel flags it as interrupted.
    private func dump(
        _ request: RouteNetlinkRequest, operation: RouteNetlinkOperation, restart: () -> Void,
        _ handle: (NetlinkMessage) throws(NetlinkError) -> Void
    ) throws(RouteNetlinkError) {
        for attempt in 1...Self.dumpAttempts {
            restart()
            let interrupted = try roundTrip(request, operation: operation) { (message) throws(NetlinkError) in
                try handle(message)
                return false
            }
            if !interrupted || attempt == Self.dumpAttempts { return }
        }
    }

    /// Sends `request` and reads until its answer is complete: an acknowledgement, NLMSG_DONE for a dump, or
    /// `handle` returning true (a GETLINK's one reply). `handle` sees every other message of this exchange.
    /// Returns whether any message was flagged NLM_F_DUMP_INTR.
    private func roundTrip(
        _ request: RouteNetlinkRequest, operation: RouteNetlinkOperation,
        _ handle: (NetlinkMessage) throws(NetlinkError) -> Bool
    ) throws(RouteNetlinkError) -> Bool {
        try exchange.withLock { (state) throws(RouteNetlinkError) -> Bool in
            state.sequence &+= 1
            let sequence = state.sequence
            let timeout = state.timeout
            let length: Int
            do throws(NetlinkError) {
                length = try request.encode(sequence: sequence, portID: socket.portID, into: sendBuffer)
            } catch {
                throw .invalidRequest(operation, error)
            }
            do throws(SystemCallError) {
                try socket.send(UnsafeRawBufferPointer(rebasing: sendBuffer[0..<length]))
            } catch {
                throw .systemCall(operation, error)
            }
            var interrupted = false
            let deadline = ContinuousClock.now + timeout
            while true {
                let received: NetlinkSocket.Received
                do throws(SystemCallError) {
                    received = try socket.receive(into: receiveBuffer, until: deadline)
                } catch {
                    throw .systemCall(operation, error)
                }
                let count: Int
                switch received {
                case .timedOut: throw .timedOut(operation, after: timeout)
                case .truncated(let length):
                    throw .malformedReply(operation, .bufferTooSmall(needed: length, available: Self.receiveCapacity))
                case .datagram(let length): count = length
                }
                let outcome: Outcome
                do throws(NetlinkError) {
                    outcome = try Self.process(
                        UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<count]), sequence: sequence,
                        portID: socket.portID, interrupted: &interrupted, handle)
                } catch {
                    throw .malformedReply(operation, error)
                }
                switch outcome {
                case .pending: continue
                case .complete: return interrupted
                case .refused(let errno, let message):
                    throw RouteNetlinkError.refusal(operation, errno: errno, message: message)
                }
            }
        }
    }

    private enum Outcome {
        case pending
        case complete
        case refused(errno: Int32, message: String?)
    }

    /// Reads one datagram's messages for the exchange numbered `sequence`; others are skipped.
    private static func process(
        _ datagram: UnsafeRawBufferPointer, sequence: UInt32, portID: UInt32, interrupted: inout Bool,
        _ handle: (NetlinkMessage) throws(NetlinkError) -> Bool
    ) throws(NetlinkError) -> Outcome {
        var messages = NetlinkMessageIterator(datagram)
        while let message = try messages.next() {
            guard message.sequence == sequence, message.portID == portID else { continue }
            if message.flags.contains(.dumpInterrupted) { interrupted = true }
            switch message.type {
            case .error, .done:
                let acknowledgement = try NetlinkAcknowledgement(decoding: message)
                guard acknowledgement.isSuccess else {
                    return .refused(errno: acknowledgement.errorNumber, message: acknowledgement.message)
                }
                return .complete
            case .noop:
                continue
            default:
                if try handle(message) { return .complete }
            }
        }
        return .pending
    }
}
