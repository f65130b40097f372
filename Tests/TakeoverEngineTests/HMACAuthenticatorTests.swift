import Foundation
import Testing
import TakeoverCore
import TakeoverEngine

@Suite struct HMACAuthenticatorTests {
    /// RFC 4231 test case 2 ("Jefe") is too short for our floor; test case 1 uses a 20-byte key.
    @Test func matchesRFC4231TestCase1() throws {
        let authenticator = try HMACAuthenticator(key: [UInt8](repeating: 0x0B, count: 20))
        let message = Array("Hi There".utf8)
        var tag = [UInt8](repeating: 0, count: 32)
        message.withUnsafeBytes { m in tag.withUnsafeMutableBytes { authenticator.writeTag(over: m, into: $0) } }
        let expected = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        #expect(tag.map { String(format: "%02x", $0) }.joined() == expected)
        let valid = message.withUnsafeBytes { m in tag.withUnsafeBytes { authenticator.isValidTag($0, over: m) } }
        #expect(valid)
    }

    @Test func heartbeatsFromAnotherKeyAreRejected() throws {
        let ours = try HMACAuthenticator(key: Array(repeating: 1, count: 32))
        let theirs = try HMACAuthenticator(key: Array(repeating: 2, count: 32))
        let message = HeartbeatMessage(
            flags: [], group: 1, channel: 0, priority: 100, state: .active, nodeID: 2, incarnation: 1, sequence: 1,
            sendTime: 0)
        var bytes = [UInt8](repeating: 0, count: HeartbeatMessage.length)
        _ = try bytes.withUnsafeMutableBytes { try message.encode(into: $0, authenticator: theirs) }
        #expect(throws: HeartbeatError.badTag) {
            try bytes.withUnsafeBytes { try HeartbeatMessage(decoding: $0, authenticator: ours) }
        }
        let decoded = try bytes.withUnsafeBytes { try HeartbeatMessage(decoding: $0, authenticator: theirs) }
        #expect(decoded == message)
    }

    @Test func shortKeysAreRefused() {
        #expect(throws: KeyError.tooShort(length: 8, minimum: 16)) { try HMACAuthenticator(key: Array(repeating: 7, count: 8)) }
    }
}
