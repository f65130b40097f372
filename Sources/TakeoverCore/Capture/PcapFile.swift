// Classic libpcap file format (https://www.tcpdump.org/manpages/pcap-savefile.5.html), pure bytes in and
// out: tests replay captures committed in the repository, and write frames for tshark to decode.
// Reads both byte orders and both the microsecond and nanosecond magic.

/// Link-layer header types we read and write.
public enum PcapLinkType: UInt32, Sendable {
    case ethernet = 1
    case linuxCooked = 113
}

public struct PcapRecord: Sendable, Equatable {
    /// Capture time in nanoseconds since the epoch.
    public var timestampNanoseconds: UInt64
    /// Length of the frame on the wire (`data` may be shorter when the snap length cut it).
    public var originalLength: Int
    public var data: [UInt8]

    public init(timestampNanoseconds: UInt64, originalLength: Int? = nil, data: [UInt8]) {
        self.timestampNanoseconds = timestampNanoseconds
        self.originalLength = originalLength ?? data.count
        self.data = data
    }
}

public enum PcapFileError: Error, Equatable, Sendable {
    case tooShort
    case badMagic(UInt32)
    case truncatedRecord(index: Int)
    case recordLongerThanSnapLength(index: Int, length: Int)
}

public struct PcapFile: Sendable, Equatable {
    public var linkType: PcapLinkType
    public var snapLength: UInt32
    public var records: [PcapRecord]

    public init(linkType: PcapLinkType = .ethernet, snapLength: UInt32 = 262_144, records: [PcapRecord] = []) {
        self.linkType = linkType
        self.snapLength = snapLength
        self.records = records
    }

    private static let microsecondMagic: UInt32 = 0xA1B2_C3D4
    private static let nanosecondMagic: UInt32 = 0xA1B2_3C4D

    /// Parses a whole file. Unknown link types are refused (the engine only reads Ethernet captures).
    public init(bytes: [UInt8]) throws(PcapFileError) {
        guard bytes.count >= 24 else { throw .tooShort }
        func u32(_ offset: Int, swapped: Bool) -> UInt32 {
            let little = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
                | UInt32(bytes[offset + 3]) << 24
            return swapped ? little.byteSwapped : little
        }
        let magicLittle = u32(0, swapped: false)
        let swapped: Bool
        let nanosecond: Bool
        switch magicLittle {
        case Self.microsecondMagic: (swapped, nanosecond) = (false, false)
        case Self.nanosecondMagic: (swapped, nanosecond) = (false, true)
        case Self.microsecondMagic.byteSwapped: (swapped, nanosecond) = (true, false)
        case Self.nanosecondMagic.byteSwapped: (swapped, nanosecond) = (true, true)
        default: throw .badMagic(magicLittle)
        }
        snapLength = u32(16, swapped: swapped)
        let rawLinkType = u32(20, swapped: swapped) & 0x0FFF_FFFF
        guard let linkType = PcapLinkType(rawValue: rawLinkType) else { throw .badMagic(rawLinkType) }
        self.linkType = linkType
        records = []
        var offset = 24
        while offset < bytes.count {
            guard offset + 16 <= bytes.count else { throw .truncatedRecord(index: records.count) }
            let seconds = UInt64(u32(offset, swapped: swapped))
            let fraction = UInt64(u32(offset + 4, swapped: swapped))
            let captured = Int(u32(offset + 8, swapped: swapped))
            let original = Int(u32(offset + 12, swapped: swapped))
            guard captured <= max(Int(snapLength), 262_144) else {
                throw .recordLongerThanSnapLength(index: records.count, length: captured)
            }
            guard offset + 16 + captured <= bytes.count else { throw .truncatedRecord(index: records.count) }
            records.append(
                PcapRecord(
                    timestampNanoseconds: seconds * 1_000_000_000 + (nanosecond ? fraction : fraction * 1000),
                    originalLength: original, data: Array(bytes[(offset + 16)..<(offset + 16 + captured)])))
            offset += 16 + captured
        }
    }

    /// The file's bytes: little-endian, nanosecond timestamps.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(24 + records.reduce(0) { $0 + 16 + $1.data.count })
        func put(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        func put(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        put(Self.nanosecondMagic)
        put(UInt16(2))
        put(UInt16(4))
        put(UInt32(0))
        put(UInt32(0))
        put(snapLength)
        put(linkType.rawValue)
        for record in records {
            put(UInt32(truncatingIfNeeded: record.timestampNanoseconds / 1_000_000_000))
            put(UInt32(truncatingIfNeeded: record.timestampNanoseconds % 1_000_000_000))
            put(UInt32(record.data.count))
            put(UInt32(record.originalLength))
            out.append(contentsOf: record.data)
        }
        return out
    }
}
