internal import CTakeoverBPF
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The takeover program attached to one interface. Detaches on `detach()` or, failing that, when released.
///
/// Attaching never clobbers another project's program: a foreign program makes `attach` fail with
/// `.foreignProgramAttached`. A takeover program left by a crashed run (recognised by name) is replaced —
/// atomically when it sits in the mode we attach in, otherwise detached first.
///
/// Interface indexes and the netlink calls behind attach/detach belong to the calling thread's network
/// namespace: detach (or release) from the namespace the attachment was made in.
public final class XDPAttachment: Sendable, CustomStringConvertible {
    public let program: XDPProgram
    public let interfaceName: String
    public let interfaceIndex: UInt32
    /// The mode the program ended up in.
    public let mode: XDPAttachMode
    /// Why the preferred mode was not used (native refused, generic used), for the log; nil when it was.
    public let fallbackReason: String?
    /// The stale takeover program (left by a crashed run) that this attachment replaced, if any.
    public let replacedStaleProgram: XDPAttachedProgram?

    private let attached = Mutex(true)

    init(program: XDPProgram, interfaceName: String, interfaceIndex: UInt32, mode: XDPAttachMode,
         fallbackReason: String?, replacedStaleProgram: XDPAttachedProgram?) {
        self.program = program
        self.interfaceName = interfaceName
        self.interfaceIndex = interfaceIndex
        self.mode = mode
        self.fallbackReason = fallbackReason
        self.replacedStaleProgram = replacedStaleProgram
    }

    /// Removes the program from the interface, only if it is still ours (`XDP_FLAGS_REPLACE` with our fd).
    /// Idempotent; an interface that has disappeared counts as detached.
    public func detach() throws(XDPError) {
        let wasAttached = attached.withLock { state in
            defer { state = false }
            return state
        }
        guard wasAttached else { return }
        do {
            try XDPInterface.detach(program.programFileDescriptor, from: interfaceIndex, mode: mode)
        } catch where error.errno == ENODEV {
            return
        } catch {
            throw .systemCall(error)
        }
    }

    deinit {
        try? detach()
    }

    public var description: String {
        "XDP program \(XDPProgram.programName) (id \(program.programID)) on \(interfaceName) in \(mode) mode"
            + (fallbackReason.map { " — \($0)" } ?? "")
    }
}

extension XDPProgram {
    /// Attaches the program to `interfaceName`.
    ///
    /// With `.nativeWithGenericFallback`, native mode is tried first and generic mode used when the driver
    /// refuses; `fallbackReason` on the result says why (log it). Permission and "busy" errors do not fall back.
    public func attach(toInterface interfaceName: String,
                       preference: XDPAttachPreference = .nativeWithGenericFallback) throws(XDPError) -> XDPAttachment {
        let index = try XDPInterface.index(of: interfaceName)
        var stale: XDPAttachedProgram?
        for existing in try XDPInterface.attachedPrograms(interfaceIndex: index) {
            guard existing.isTakeover else { throw .foreignProgramAttached(interface: interfaceName, existing) }
            stale = existing
        }
        let replaced = stale
        let modes = preference.modes
        var fallbackReason: String?
        for (attempt, mode) in modes.enumerated() {
            do {
                try XDPInterface.attach(programFileDescriptor, to: index, mode: mode, replacing: &stale)
                return XDPAttachment(program: self, interfaceName: interfaceName, interfaceIndex: index, mode: mode,
                                     fallbackReason: fallbackReason, replacedStaleProgram: replaced)
            } catch {
                if error.errno == EPERM { throw .insufficientPrivileges(error) }
                let isLast = attempt == modes.count - 1
                if isLast || error.errno == EBUSY || error.errno == EEXIST {
                    throw .attachFailed(interface: interfaceName, error)
                }
                fallbackReason = "\(mode) XDP refused by \(interfaceName) (\(error)); using \(modes[attempt + 1]) mode"
            }
        }
        preconditionFailure("XDPAttachPreference has at least one mode")
    }
}

/// Interface-level XDP calls: name lookup, query, attach, detach. All through the Syscall.swift helpers.
public enum XDPInterface {
    /// The interface index, or `.interfaceNotFound(name)`.
    public static func index(of name: String) throws(XDPError) -> UInt32 {
        var index: UInt32 = 0
        do {
            try systemCall("if_nametoindex(\(name))") {
                index = if_nametoindex(name)
                return index == 0 ? -1 : 0
            }
        } catch where error.errno == ENODEV || error.errno == ENXIO {
            throw .interfaceNotFound(name)
        } catch {
            throw .systemCall(error)
        }
        return index
    }

    /// Every XDP program attached to the interface (at most one per mode), with its name.
    public static func attachedPrograms(interface name: String) throws(XDPError) -> [XDPAttachedProgram] {
        try attachedPrograms(interfaceIndex: index(of: name))
    }

    static func attachedPrograms(interfaceIndex: UInt32) throws(XDPError) -> [XDPAttachedProgram] {
        do {
            let byMode: [(UInt32, XDPAttachMode)] = try withLibbpfOptions(bpf_xdp_query_opts.self, size: \.sz) {
                (query) throws(SystemCallError) in
                try negativeErrnoCall("bpf_xdp_query") { bpf_xdp_query(Int32(interfaceIndex), 0, query) }
                return [
                    (query.pointee.drv_prog_id, .native), (query.pointee.skb_prog_id, .generic),
                    (query.pointee.hw_prog_id, .offloaded),
                ]
            }
            return try byMode.filter { $0.0 != 0 }.map { (id, mode) throws(SystemCallError) in
                XDPAttachedProgram(id: id, name: try programName(id: id), mode: mode)
            }
        } catch {
            throw XDPError.classify(error)
        }
    }

    private static func programName(id: UInt32) throws(SystemCallError) -> String {
        let descriptor = try negativeErrnoCall("bpf_prog_get_fd_by_id(\(id))") { bpf_prog_get_fd_by_id(id) }
        defer { _ = try? systemCall("close") { close(descriptor) } }
        return try XDPProgram.information(ofProgram: descriptor).name
    }

    /// Attaches in `mode`. A stale takeover program in the same mode is swapped atomically (XDP_FLAGS_REPLACE);
    /// one in another mode is detached first (the kernel refuses native and generic at once). Otherwise the
    /// attach is XDP_FLAGS_UPDATE_IF_NOEXIST, so a program that appeared meanwhile is never overwritten.
    /// `stale` is cleared once the stale program is gone.
    static func attach(_ program: Int32, to interfaceIndex: UInt32, mode: XDPAttachMode,
                       replacing stale: inout XDPAttachedProgram?) throws(SystemCallError) {
        if let old = stale {
            let oldDescriptor = try negativeErrnoCall("bpf_prog_get_fd_by_id(\(old.id))") {
                bpf_prog_get_fd_by_id(old.id)
            }
            defer { _ = try? systemCall("close") { close(oldDescriptor) } }
            if old.mode == mode {
                try withAttachOptions(expecting: oldDescriptor) { (options) throws(SystemCallError) in
                    try negativeErrnoCall("bpf_xdp_attach(\(mode), replacing id \(old.id))") {
                        bpf_xdp_attach(Int32(interfaceIndex), program, mode.flags, options)
                    }
                }
                stale = nil
                return
            }
            try detach(oldDescriptor, from: interfaceIndex, mode: old.mode)
            stale = nil
        }
        try negativeErrnoCall("bpf_xdp_attach(\(mode))") {
            bpf_xdp_attach(Int32(interfaceIndex), program, mode.flags | UInt32(XDP_FLAGS_UPDATE_IF_NOEXIST), nil)
        }
    }

    /// Detaches `program` from `mode` only if it is the one attached (libbpf adds XDP_FLAGS_REPLACE).
    static func detach(_ program: Int32, from interfaceIndex: UInt32, mode: XDPAttachMode) throws(SystemCallError) {
        try withAttachOptions(expecting: program) { (options) throws(SystemCallError) in
            try negativeErrnoCall("bpf_xdp_detach(\(mode))") {
                bpf_xdp_detach(Int32(interfaceIndex), mode.flags, options)
            }
        }
    }

    private static func withAttachOptions(
        expecting descriptor: Int32, _ body: (UnsafeMutablePointer<bpf_xdp_attach_opts>) throws(SystemCallError) -> Void
    ) throws(SystemCallError) {
        try withLibbpfOptions(bpf_xdp_attach_opts.self, size: \.sz) { (options) throws(SystemCallError) in
            options.pointee.old_prog_fd = descriptor
            try body(options)
        }
    }
}
