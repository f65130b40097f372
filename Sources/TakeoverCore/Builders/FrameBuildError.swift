/// Why a frame could not be built into the caller's buffer. Nothing is written when one is thrown.
public enum FrameBuildError: Error, Hashable, Sendable {
    /// The buffer holds `available` bytes; the frame needs `required`.
    case bufferTooSmall(required: Int, available: Int)
    /// A TCP frame's source and destination are of different address families.
    case mixedAddressFamilies
}

/// Why a received frame could not be turned around into an echo reply. The frame is left untouched when
/// one is thrown.
public enum EchoTurnaroundError: Error, Hashable, Sendable {
    /// The frame ends before the headers it announces (Ethernet, VLAN tags, IP, 8-byte echo header).
    case truncated
    /// Not IPv4/ICMP echo request (type 8, code 0) nor IPv6/ICMPv6 echo request (type 128, code 0).
    case notEchoRequest
    /// IPv4 options or IPv6 extension headers: a reply would have to reverse routing options, so it is left
    /// to the kernel.
    case unsupportedIPHeader
    /// A fragment: the ICMP header and checksum span the whole datagram, which this frame does not hold.
    case fragmented
    /// Sent to a multicast or broadcast address: the reply's source would not be a unicast address of ours.
    case multicastDestination
}
