public import TakeoverCore
import Crypto

/// HMAC-SHA256 over heartbeats and control messages, with the cluster's shared key.
public struct HMACAuthenticator: MessageAuthenticator {
    /// Shorter keys are refused: HMAC-SHA256's strength is capped by the key, and 16 bytes is the floor
    /// RFC 2104 advises against going under (the output length is better; 32 is what `takeover keygen` writes).
    public static let minimumKeyLength = 16
    /// HMAC state with the key already absorbed (inner and outer pads), copied for each message: swift-crypto's
    /// `HMAC(key:)` builds the pads with fresh arrays, dozens of allocations per heartbeat in a debug build.
    private let keyed: HMAC<SHA256>

    public init(key bytes: [UInt8]) throws(KeyError) {
        guard bytes.count >= Self.minimumKeyLength else {
            throw .tooShort(length: bytes.count, minimum: Self.minimumKeyLength)
        }
        keyed = HMAC<SHA256>(key: SymmetricKey(data: bytes))
    }

    private func code(for message: UnsafeRawBufferPointer) -> HMAC<SHA256>.MAC {
        var hmac = keyed
        hmac.update(data: message)
        return hmac.finalize()
    }

    public func writeTag(over message: UnsafeRawBufferPointer, into tag: UnsafeMutableRawBufferPointer) {
        code(for: message).withUnsafeBytes { codeBytes in
            tag.copyMemory(from: UnsafeRawBufferPointer(rebasing: codeBytes.prefix(tag.count)))
        }
    }

    public func isValidTag(_ tag: UnsafeRawBufferPointer, over message: UnsafeRawBufferPointer) -> Bool {
        // swift-crypto's comparison with bytes is constant-time.
        tag.count == SHA256.byteCount && code(for: message) == tag
    }
}

public enum KeyError: Error, Hashable, Sendable, CustomStringConvertible {
    case tooShort(length: Int, minimum: Int)

    public var description: String {
        switch self {
        case .tooShort(let length, let minimum):
            "the shared key has \(length) bytes; at least \(minimum) are needed (32 random bytes recommended)"
        }
    }
}
