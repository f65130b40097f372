public import TakeoverCore

/// A `PacketSource` whose readiness a loop can watch in its own `PollSet`, beside other descriptors (an
/// `EventFD` that other threads signal), so one `poll` waits for frames and for commands at once instead of
/// waking every few milliseconds to look at a mailbox.
///
/// The descriptor reports frames the kernel holds. Frames the source has already taken from the kernel
/// (the rest of a batch cut short by a receive limit) are not reported: a loop whose last receive was cut
/// short receives again before it waits.
public protocol PollablePacketSource: PacketSource, ~Copyable {
    /// Readable (POLLIN) when the kernel holds frames for this source. Valid as long as the source is open.
    var readinessDescriptor: Int32 { get }
}

extension PcapCapture: PollablePacketSource {
    public var readinessDescriptor: Int32 { selectableFileDescriptor }
}
