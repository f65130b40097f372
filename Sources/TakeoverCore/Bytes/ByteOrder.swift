// Unaligned big-endian loads and stores over raw memory.
//
// Frame views check their bounds once, when they are made; after that they read through these helpers,
// which trust the caller's offset. Network byte order is big-endian, so every helper here is too.

extension UnsafeRawBufferPointer {
    /// Reads a big-endian integer at `offset`. The caller has checked `offset + size <= count`.
    @inlinable @inline(__always)
    public func loadBigEndian<T: FixedWidthInteger>(at offset: Int, as type: T.Type = T.self) -> T {
        T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension UnsafeMutableRawBufferPointer {
    /// Reads a big-endian integer at `offset`. The caller has checked `offset + size <= count`.
    @inlinable @inline(__always)
    public func loadBigEndian<T: FixedWidthInteger>(at offset: Int, as type: T.Type = T.self) -> T {
        T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// Writes `value` big-endian at `offset`. The caller has checked `offset + size <= count`.
    @inlinable @inline(__always)
    public func storeBigEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
    }
}
