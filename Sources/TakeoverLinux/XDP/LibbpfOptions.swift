/// Runs `body` with a libbpf options struct (`bpf_*_opts`) that lives in zeroed memory, with its `sz` set.
///
/// libbpf refuses an options struct with any non-zero byte past the fields it knows, padding included
/// (EINVAL from `OPTS_VALID`). A Swift `T()` zeroes the fields but leaves padding undefined in optimized
/// builds, and copying a value need not preserve padding either, so these structs are never held as Swift
/// values: they are written field by field through the pointer.
func withLibbpfOptions<Options, Result, Failure: Error>(
    _ type: Options.Type, size: WritableKeyPath<Options, Int>,
    _ body: (UnsafeMutablePointer<Options>) throws(Failure) -> Result
) throws(Failure) -> Result {
    let raw = UnsafeMutableRawPointer.allocate(
        byteCount: MemoryLayout<Options>.stride, alignment: MemoryLayout<Options>.alignment)
    defer { raw.deallocate() }
    raw.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<Options>.stride)
    let options = raw.bindMemory(to: Options.self, capacity: 1)
    options.pointee[keyPath: size] = MemoryLayout<Options>.stride
    return try body(options)
}
