import TakeoverCore
import Testing

extension Array where Element == UInt8 {
    fileprivate static func random(count: Int, using generator: inout BuilderLab.Random) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}

/// RFC 1071 taken literally: big-endian 16-bit words one at a time, odd byte padded, carries folded.
private func referenceChecksum(_ bytes: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    var index = 0
    while index < bytes.count {
        let high = UInt32(bytes[index]) << 8
        let low = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
        sum += high | low
        sum = (sum & 0xFFFF) + (sum >> 16)
        index += 2
    }
    return ~UInt16(sum)
}

private func checksum(_ bytes: [UInt8]) -> UInt16 {
    bytes.withUnsafeBytes { InternetChecksum.checksum(of: $0) }
}

@Suite struct InternetChecksumTests {
    /// RFC 1071 §3, "Numerical Examples": 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (so the checksum is 220d).
    @Test func rfc1071Example() {
        let bytes: [UInt8] = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]
        var sum = InternetChecksum()
        bytes.withUnsafeBytes { sum.add(bytes: $0) }
        #expect(sum.foldedSum == 0xDDF2)
        #expect(sum.checksum == 0x220D)
        #expect(checksum(bytes) == 0x220D)
    }

    /// RFC 1624 §5: HC = 0xDD2F, a field changes from 0x5555 to 0x3285; Eqn. 3 gives 0x0000 (Eqn. 2's
    /// 0xFFFF is the wrong answer the RFC was written to correct).
    @Test func rfc1624Example() {
        #expect(InternetChecksum.updated(0xDD2F, replacing: UInt16(0x5555), with: 0x3285) == 0x0000)
    }

    /// The IPv4 header checksum example widely published (Wikipedia, "Internet checksum"):
    /// 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7.
    @Test func ipv4HeaderExample() {
        var header: [UInt8] = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xC0, 0xA8, 0x00, 0x01,
            0xC0, 0xA8, 0x00, 0xC7,
        ]
        #expect(checksum(header) == 0xB861)
        header[10] = 0xB8
        header[11] = 0x61
        #expect(checksum(header) == 0, "a header holding its correct checksum sums to 0xFFFF")
    }

    /// The wide loop against the word-at-a-time reference, every length up to 300 (all tail sizes, the
    /// 32-byte unrolled loop and its remainders) at every start address modulo 8.
    @Test func matchesReferenceAtEveryLengthAndAlignment() {
        var generator = BuilderLab.Random(seed: 1071)
        let backing = [UInt8].random(count: 308, using: &generator)
        backing.withUnsafeBytes { all in
            for start in 0..<8 {
                for length in 0...300 {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    let expected = referenceChecksum(Array(slice))
                    #expect(InternetChecksum.checksum(of: slice) == expected, "start \(start), length \(length)")
                }
            }
        }
    }

    /// Many 64-bit carries: all-ones data and long random data.
    @Test func largeInputsCarryCorrectly() {
        let ones = [UInt8](repeating: 0xFF, count: 65_535)
        #expect(checksum(ones) == referenceChecksum(ones))
        var generator = BuilderLab.Random(seed: 7)
        for count in [9000, 65_536, 100_001] {
            let data = [UInt8].random(count: count, using: &generator)
            #expect(checksum(data) == referenceChecksum(data), "\(count) bytes")
        }
    }

    /// Added in pieces of random lengths (odd ones put later pieces at odd positions) the sum is that of
    /// the whole; words added as integers count like the same bytes.
    @Test func piecewiseAdditionMatchesWhole() {
        var generator = BuilderLab.Random(seed: 2026)
        for _ in 0..<300 {
            let data = [UInt8].random(count: Int.random(in: 0...200, using: &generator), using: &generator)
            var sum = InternetChecksum()
            data.withUnsafeBytes { all in
                var offset = 0
                while offset < all.count {
                    let piece = min(Int.random(in: 0...17, using: &generator), all.count - offset)
                    sum.add(bytes: UnsafeRawBufferPointer(rebasing: all[offset..<(offset + piece)]))
                    offset += piece
                }
            }
            #expect(sum.checksum == referenceChecksum(data))

            // The same data plus one more 16-, 32- and 64-bit value, as integers and as bytes.
            let word16 = UInt16.random(in: .min ... .max, using: &generator)
            let word32 = UInt32.random(in: .min ... .max, using: &generator)
            let word64 = UInt64.random(in: .min ... .max, using: &generator)
            sum.add(word16)
            sum.add(word32)
            sum.add(word64)
            var bytes = data
            withUnsafeBytes(of: word16.bigEndian) { bytes += $0 }
            withUnsafeBytes(of: word32.bigEndian) { bytes += $0 }
            withUnsafeBytes(of: word64.bigEndian) { bytes += $0 }
            #expect(
                sum.checksum == referenceChecksum(bytes),
                "integers added at \(data.count & 1 == 0 ? "even" : "odd") position")
        }
    }

    /// The pseudo-header helpers against the pseudo-headers spelled out byte by byte (RFC 9293 §3.1,
    /// RFC 8200 §8.1).
    @Test func pseudoHeadersMatchTheirByteLayout() {
        let v4 = InternetChecksum.ipv4PseudoHeader(
            source: IPv4Address(192, 0, 2, 1), destination: IPv4Address(198, 51, 100, 7), protocolNumber: 6,
            length: 0x1234)
        let v4Bytes: [UInt8] = [192, 0, 2, 1, 198, 51, 100, 7, 0, 6, 0x12, 0x34]
        #expect(v4.checksum == referenceChecksum(v4Bytes))

        let source = IPv6Address("2001:db8::1")!
        let destination = IPv6Address("2001:db8:ffff:1:2:3:4:5")!
        let v6 = InternetChecksum.ipv6PseudoHeader(
            source: source, destination: destination, nextHeader: 58, length: 0x0001_0020)
        var v6Bytes = [UInt8](repeating: 0, count: 40)
        v6Bytes.withUnsafeMutableBytes { bytes in
            source.write(to: bytes, at: 0)
            destination.write(to: bytes, at: 16)
            bytes.storeBigEndian(UInt32(0x0001_0020), at: 32)
            bytes.storeBigEndian(UInt32(58), at: 36)
        }
        #expect(v6.checksum == referenceChecksum(v6Bytes))
    }

    /// RFC 1624 updates against full recomputation: random data with a checksum field, a random 16- or
    /// 32-bit field (at an even offset) rewritten, the patched checksum equal to the recomputed one.
    @Test func incrementalUpdatesMatchFullRecomputation() {
        var generator = BuilderLab.Random(seed: 1624)
        for round in 0..<2000 {
            let wordCount = Int.random(in: 4...40, using: &generator)
            var data = [UInt8].random(count: wordCount * 2, using: &generator)
            if round % 10 == 0 { data = [UInt8](repeating: 0, count: data.count) }  // all-zero edge
            let checksumOffset = 2 * Int.random(in: 0..<wordCount, using: &generator)
            data[checksumOffset] = 0
            data[checksumOffset + 1] = 0
            let original = checksum(data)
            data.withUnsafeMutableBytes { $0.storeBigEndian(original, at: checksumOffset) }

            let wide = round & 1 == 0
            let fieldLength = wide ? 4 : 2
            var fieldOffset: Int
            repeat {  // any even offset whose field does not overlap the checksum field
                fieldOffset = 2 * Int.random(in: 0...(wordCount - fieldLength / 2), using: &generator)
            } while fieldOffset < checksumOffset + 2 && checksumOffset < fieldOffset + fieldLength
            data.withUnsafeMutableBytes { bytes in
                if wide {
                    bytes.storeBigEndian(
                        UInt32.random(in: .min ... .max, using: &generator), at: fieldOffset,
                        updatingChecksumAt: checksumOffset)
                } else {
                    bytes.storeBigEndian(
                        UInt16.random(in: .min ... .max, using: &generator), at: fieldOffset,
                        updatingChecksumAt: checksumOffset)
                }
            }
            let patched = data.withUnsafeBytes { $0.loadBigEndian(at: checksumOffset, as: UInt16.self) }
            data[checksumOffset] = 0
            data[checksumOffset + 1] = 0
            #expect(patched == checksum(data), "round \(round): \(wide ? 32 : 16)-bit field at \(fieldOffset)")
        }
    }

    /// The 32-bit update is the 16-bit one applied to both halves.
    @Test func wideUpdateEqualsTwoNarrowUpdates() {
        var generator = BuilderLab.Random(seed: 32)
        for _ in 0..<1000 {
            let start = UInt16.random(in: .min ... .max, using: &generator)
            let old = UInt32.random(in: .min ... .max, using: &generator)
            let new = UInt32.random(in: .min ... .max, using: &generator)
            let twice = InternetChecksum.updated(
                InternetChecksum.updated(start, replacing: UInt16(old >> 16), with: UInt16(new >> 16)),
                replacing: UInt16(truncatingIfNeeded: old), with: UInt16(truncatingIfNeeded: new))
            #expect(InternetChecksum.updated(start, replacing: old, with: new) == twice)
        }
    }
}
