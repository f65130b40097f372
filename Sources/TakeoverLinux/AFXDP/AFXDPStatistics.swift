/// The kernel's counters for one AF_XDP socket (getsockopt XDP_STATISTICS).
public struct AFXDPKernelStatistics: Sendable, Equatable, BitwiseCopyable {
    /// Frames the kernel dropped for other reasons: no fill-ring frame to write into (copy mode), or longer
    /// than a UMEM frame holds.
    public var receiveDropped: UInt64
    /// Fill-ring entries with an invalid address (a bug on our side; stays 0).
    public var receiveInvalidDescriptors: UInt64
    /// TX descriptors the kernel rejected (length or address out of range; a bug on our side; stays 0).
    public var transmitInvalidDescriptors: UInt64
    /// Frames dropped because the RX ring was full (we did not consume fast enough).
    public var receiveRingFull: UInt64
    /// Times the kernel found the fill ring empty: the sign that too few frames were handed back.
    public var fillRingEmpty: UInt64
    /// Times the kernel found the TX ring empty when woken.
    public var transmitRingEmpty: UInt64

    public init(receiveDropped: UInt64 = 0, receiveInvalidDescriptors: UInt64 = 0,
                transmitInvalidDescriptors: UInt64 = 0, receiveRingFull: UInt64 = 0, fillRingEmpty: UInt64 = 0,
                transmitRingEmpty: UInt64 = 0) {
        self.receiveDropped = receiveDropped
        self.receiveInvalidDescriptors = receiveInvalidDescriptors
        self.transmitInvalidDescriptors = transmitInvalidDescriptors
        self.receiveRingFull = receiveRingFull
        self.fillRingEmpty = fillRingEmpty
        self.transmitRingEmpty = transmitRingEmpty
    }
}

/// Counters of one AF_XDP socket since it was opened: the kernel's, our own, and where the frames are.
///
/// Every frame the XDP program redirected to the socket is either in `receivedFrames` or in `receiveDrops`;
/// every frame a caller asked to transmit is submitted, abandoned by its builder, or in `transmitNoBuffer`.
public struct AFXDPStatistics: Sendable, Equatable {
    public var kernel: AFXDPKernelStatistics

    /// Frames handed to a receive handler, and their bytes.
    public var receivedFrames: UInt64 = 0
    public var receivedBytes: UInt64 = 0
    /// `poll` calls made by `waitForFrames` (only when the RX ring was empty): frames per poll is the batching.
    public var receivePolls: UInt64 = 0
    /// Busy-poll calls (`recvfrom` driving the NAPI) made by `waitForFrames` when the RX ring was empty.
    public var busyPolls: UInt64 = 0
    /// Wake-up calls made because the kernel flagged the fill ring (zero-copy drivers that went to sleep).
    public var fillWakeups: UInt64 = 0

    /// Frames submitted to the TX ring, and their bytes.
    public var transmitSubmitted: UInt64 = 0
    public var transmitSubmittedBytes: UInt64 = 0
    /// TX frames the kernel has returned through the completion ring (sent, or dropped by the device).
    public var transmitCompleted: UInt64 = 0
    /// Frames whose builder returned 0 (nothing to send); the frame went back to the pool.
    public var transmitAbandoned: UInt64 = 0
    /// Frames a caller asked to transmit that got no UMEM frame or TX ring slot: dropped before building.
    public var transmitNoBuffer: UInt64 = 0
    /// Wake-ups (sendto) made for the TX ring, and those the device answered with a drop (EBUSY: the frame was
    /// completed but not sent).
    public var transmitKicks: UInt64 = 0
    public var transmitDroppedByDevice: UInt64 = 0

    /// Receive frames currently with the kernel (fill ring, in reception, RX ring), and those free on our side.
    public var receiveFramesWithKernel: Int = 0
    public var receiveFramesFree: Int = 0
    /// Transmit frames submitted but not yet completed, and those free for the next transmit.
    public var transmitFramesInFlight: Int = 0
    public var transmitFramesFree: Int = 0

    public init(kernel: AFXDPKernelStatistics = AFXDPKernelStatistics()) {
        self.kernel = kernel
    }

    /// Every frame lost on the receive side, as far as the kernel counts: dropped, RX ring full, bad fill entry.
    public var receiveDrops: UInt64 {
        kernel.receiveDropped + kernel.receiveRingFull + kernel.receiveInvalidDescriptors
    }

    /// Frames lost on the transmit side: no buffer, rejected descriptor, or dropped by the device.
    public var transmitDrops: UInt64 {
        transmitNoBuffer + kernel.transmitInvalidDescriptors + transmitDroppedByDevice
    }
}
