public import TakeoverCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Session-table memory on 2 MiB pages. A default table (168 MB) spans ~41,000 4 KiB pages, far more than
/// the TLB covers, so a random lookup pays a page walk on top of its cache miss; on 2 MiB pages it spans 84.
///
/// Tries, in order: explicit huge pages (`MAP_HUGETLB`, from the pool an administrator reserves in
/// `/proc/sys/vm/nr_hugepages`), then transparent huge pages (an anonymous mapping aligned to 2 MiB and
/// `madvise(MADV_HUGEPAGE)`, which works when `/sys/kernel/mm/transparent_hugepage/enabled` is `always` or
/// `madvise`). If the kernel hands out no huge page at all, the mapping still works on 4 KiB pages: only
/// slower. `hugePageBytes(in:byteCount:)` tells what it got.
public struct HugePageSessionMemory: SessionMemory {
    public static let hugePageSize = 2 << 20

    /// Try the explicit huge-page pool first.
    public var useExplicitHugePages: Bool

    public init(useExplicitHugePages: Bool = true) {
        self.useExplicitHugePages = useExplicitHugePages
    }

    public func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        precondition(alignment <= Self.hugePageSize, "huge-page memory aligns to 2 MiB at most")
        let length = Self.mappedLength(byteCount)
        // Without MAP_NORESERVE, so an empty pool fails here (ENOMEM) rather than with SIGBUS at the first touch.
        if useExplicitHugePages, let block = map(length, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB) {
            return block
        }
        // Transparent huge pages need 2 MiB-aligned ranges: map a huge page more and trim both ends.
        guard let raw = map(length + Self.hugePageSize, flags: MAP_PRIVATE | MAP_ANONYMOUS) else {
            return nil
        }
        let address = UInt(bitPattern: raw)
        let aligned = (address + UInt(Self.hugePageSize - 1)) & ~UInt(Self.hugePageSize - 1)
        let head = Int(aligned - address)
        if head > 0 { unmap(raw, head) }
        let tail = Self.hugePageSize - head
        if tail > 0 { unmap(UnsafeMutableRawPointer(bitPattern: aligned + UInt(length))!, tail) }
        let block = UnsafeMutableRawPointer(bitPattern: aligned)!
        // Advice only: without THP (or with it off) the block stays on 4 KiB pages.
        _ = try? systemCall("madvise(MADV_HUGEPAGE)") { madvise(block, length, MADV_HUGEPAGE) }
        return block
    }

    public func deallocate(_ block: UnsafeMutableRawPointer, byteCount: Int) {
        unmap(block, Self.mappedLength(byteCount))
    }

    /// Bytes of `block` the kernel backs with huge pages now (explicit or transparent), from
    /// `/proc/self/smaps`; nil when that file cannot be read.
    public static func hugePageBytes(in block: UnsafeRawPointer, byteCount: Int) -> Int? {
        guard let file = fopen("/proc/self/smaps", "r") else { return nil }
        defer { fclose(file) }
        let start = UInt(bitPattern: block)
        let end = start + UInt(byteCount)
        var total = 0
        var inBlock = false
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // A mapping's header: "start-end perms offset dev inode path"; its fields follow, one per line.
            if let dash = text.firstIndex(of: "-"), let space = text.firstIndex(of: " "), dash < space,
                let low = UInt(text[..<dash], radix: 16),
                let high = UInt(text[text.index(after: dash)..<space], radix: 16)
            {
                inBlock = low < end && high > start
                continue
            }
            guard inBlock else { continue }
            for field in ["AnonHugePages:", "Private_Hugetlb:"] where text.hasPrefix(field) {
                let kilobytes = text.dropFirst(field.count).split(separator: " ").first.flatMap { Int($0) } ?? 0
                total += kilobytes * 1024
            }
        }
        return total
    }

    private static func mappedLength(_ byteCount: Int) -> Int {
        (byteCount + hugePageSize - 1) / hugePageSize * hugePageSize
    }

    /// mmap returns a pointer, which `systemCall` does not take; a failure (errno) only means "not this way".
    private func map(_ length: Int, flags: Int32) -> UnsafeMutableRawPointer? {
        let block = mmap(nil, length, PROT_READ | PROT_WRITE, flags, -1, 0)
        return block == MAP_FAILED ? nil : block
    }

    /// munmap fails only for a range that was never mapped: a programming error, not a runtime condition.
    private func unmap(_ block: UnsafeMutableRawPointer, _ length: Int) {
        do { _ = try systemCall("munmap") { munmap(block, length) } } catch {
            preconditionFailure("HugePageSessionMemory: \(error)")
        }
    }
}
