/// A TCP header (RFC 9293) and its payload.
///
///     0      2      4     8     12            14       16     18     20          offset*4
///     | sport| dport| seq | ack |off|rsv|flags| window | csum | urg  | options… | payload
public struct TCPSegmentView {
    /// Header and payload, as far as the IP layer says the segment goes.
    public let bytes: UnsafeRawBufferPointer
    /// Header length in bytes, options included (20...60).
    public let headerLength: Int

    public static let minimumHeaderLength = 20

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(FrameError) {
        guard bytes.count >= Self.minimumHeaderLength else { throw .truncated(.tcp) }
        let words = bytes[12] >> 4
        let headerLength = Int(words) * 4
        guard headerLength >= Self.minimumHeaderLength, headerLength <= bytes.count else {
            throw .badTCPDataOffset(words)
        }
        self.bytes = bytes
        self.headerLength = headerLength
    }

    @inlinable public var sourcePort: UInt16 { bytes.loadBigEndian(at: 0) }
    @inlinable public var destinationPort: UInt16 { bytes.loadBigEndian(at: 2) }
    @inlinable public var sequence: UInt32 { bytes.loadBigEndian(at: 4) }
    @inlinable public var acknowledgment: UInt32 { bytes.loadBigEndian(at: 8) }
    /// The nine flag bits; the data offset and reserved bits are masked off.
    @inlinable public var flags: TCPFlags { TCPFlags(rawValue: bytes.loadBigEndian(at: 12, as: UInt16.self) & 0x01FF) }
    /// As on the wire, unscaled.
    @inlinable public var window: UInt16 { bytes.loadBigEndian(at: 14) }
    @inlinable public var checksum: UInt16 { bytes.loadBigEndian(at: 16) }
    @inlinable public var urgentPointer: UInt16 { bytes.loadBigEndian(at: 18) }
    @inlinable public var options: UnsafeRawBufferPointer {
        bytes.frameSlice(from: Self.minimumHeaderLength, count: headerLength - Self.minimumHeaderLength)
    }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.frameSlice(from: headerLength) }

    /// Walks the options once; see `TCPOptionsSummary.init(parsing:)`.
    @inlinable public func parseOptions() throws(FrameError) -> TCPOptionsSummary {
        try TCPOptionsSummary(parsing: options)
    }
}

/// TCP option kinds (IANA "TCP Option Kind Numbers").
public enum TCPOptionKind {
    public static let endOfList: UInt8 = 0
    public static let noOperation: UInt8 = 1
    public static let maximumSegmentSize: UInt8 = 2
    public static let windowScale: UInt8 = 3
    public static let sackPermitted: UInt8 = 4
    public static let sack: UInt8 = 5
    public static let timestamps: UInt8 = 8
}

extension TCPOptionsSummary {
    /// Reads TCP option bytes: MSS, window scale, SACK-permitted, SACK blocks and timestamps are kept; NOP is
    /// skipped, end-of-list stops the walk, and any other kind is skipped by its length.
    ///
    /// A length below 2, one that runs past the options, or one that is wrong for a known kind throws
    /// `badTCPOptionLength`: such a header was not written by a conforming stack and its other options cannot
    /// be trusted either. (A window-scale shift above 14 is kept as sent; RFC 7323 says to use 14.)
    @inlinable @inline(__always)
    public init(parsing options: UnsafeRawBufferPointer) throws(FrameError) {
        self.init()
        var offset = 0
        while offset < options.count {
            let kind = options[offset]
            if kind == TCPOptionKind.endOfList { break }
            if kind == TCPOptionKind.noOperation {
                offset += 1
                continue
            }
            guard options.count - offset >= 2 else { throw .badTCPOptionLength(kind: kind) }
            let length = Int(options[offset + 1])
            guard length >= 2, length <= options.count - offset else { throw .badTCPOptionLength(kind: kind) }
            let value = offset + 2
            switch kind {
            case TCPOptionKind.maximumSegmentSize:
                guard length == 4 else { throw .badTCPOptionLength(kind: kind) }
                mss = options.loadBigEndian(at: value)
            case TCPOptionKind.windowScale:
                guard length == 3 else { throw .badTCPOptionLength(kind: kind) }
                windowScale = options[value]
                hasWindowScale = true
            case TCPOptionKind.sackPermitted:
                guard length == 2 else { throw .badTCPOptionLength(kind: kind) }
                sackPermitted = true
            case TCPOptionKind.sack:
                let blockBytes = length - 2
                guard blockBytes >= 8, blockBytes % 8 == 0 else { throw .badTCPOptionLength(kind: kind) }
                // 40 option bytes leave room for at most four blocks, so the count always fits the tuple.
                let count = blockBytes / 8
                sackBlockCount = UInt8(truncatingIfNeeded: count)
                for index in 0..<count {
                    let block = SACKBlock(
                        left: options.loadBigEndian(at: value + 8 * index),
                        right: options.loadBigEndian(at: value + 8 * index + 4))
                    switch index {
                    case 0: sackBlocks.0 = block
                    case 1: sackBlocks.1 = block
                    case 2: sackBlocks.2 = block
                    default: sackBlocks.3 = block
                    }
                }
            case TCPOptionKind.timestamps:
                guard length == 10 else { throw .badTCPOptionLength(kind: kind) }
                hasTimestamp = true
                timestampValue = options.loadBigEndian(at: value)
                timestampEcho = options.loadBigEndian(at: value + 4)
            default:
                break
            }
            offset += length
        }
    }
}
