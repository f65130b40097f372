// Where a `SessionTable` keeps its slots. The table asks once, at init, for one block and gives it back in
// deinit; it never allocates otherwise. The core stays kernel-free, so memory that needs a system call —
// huge pages, which spare a lookup most of its TLB miss in a 168 MB table — is supplied by the caller
// (TakeoverLinux's `HugePageSessionMemory`).

/// Supplies the one block of memory a `SessionTable` holds its slots in.
public protocol SessionMemory: Sendable {
    /// At least `byteCount` bytes aligned to `alignment` (a power of two, at most 4096), or nil when this
    /// memory cannot supply them: the table then takes them from the heap.
    func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer?
    /// Returns a block `allocate` gave out, with the same `byteCount`.
    func deallocate(_ block: UnsafeMutableRawPointer, byteCount: Int)
}

/// The heap (malloc): the default, and the fallback when another `SessionMemory` has none.
public struct HeapSessionMemory: SessionMemory {
    public init() {}

    public func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: alignment)
    }

    public func deallocate(_ block: UnsafeMutableRawPointer, byteCount: Int) {
        block.deallocate()
    }
}
