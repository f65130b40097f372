import Testing
import TakeoverCore

@Suite struct PcapFileTests {
    @Test func roundTrips() throws {
        let file = PcapFile(records: [
            PcapRecord(timestampNanoseconds: 1_700_000_000_123_456_789, data: [1, 2, 3]),
            PcapRecord(timestampNanoseconds: 5, originalLength: 1500, data: Array(repeating: 0xAB, count: 60)),
        ])
        #expect(try PcapFile(bytes: file.serialized()) == file)
    }

    @Test func readsBigEndianMicrosecondFiles() throws {
        // Header as a big-endian host writes it, one 2-byte record at 1 s + 7 µs.
        let bytes: [UInt8] =
            [0xA1, 0xB2, 0xC3, 0xD4, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 1]
            + [0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 2, 0xDE, 0xAD]
        let file = try PcapFile(bytes: bytes)
        #expect(file.linkType == .ethernet)
        #expect(file.records == [PcapRecord(timestampNanoseconds: 1_000_007_000, data: [0xDE, 0xAD])])
    }

    @Test func refusesDamagedFiles() {
        #expect(throws: PcapFileError.tooShort) { try PcapFile(bytes: [0xD4, 0xC3]) }
        #expect(throws: PcapFileError.badMagic(0x0403_0201)) {
            try PcapFile(bytes: [1, 2, 3, 4] + Array(repeating: 0, count: 20))
        }
        var bytes = PcapFile(records: [PcapRecord(timestampNanoseconds: 0, data: [1, 2, 3, 4])]).serialized()
        bytes.removeLast()
        #expect(throws: PcapFileError.truncatedRecord(index: 0)) { try PcapFile(bytes: bytes) }
    }
}
