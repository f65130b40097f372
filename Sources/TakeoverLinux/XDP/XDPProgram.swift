internal import CTakeoverBPF
public import TakeoverCore
#if canImport(Glibc)
import Glibc
#endif

/// The takeover XDP program (bpf/takeover_xdp.bpf.c), loaded into the kernel from the copy embedded in this
/// binary, with typed access to its maps.
///
/// Loading verifies the program and creates its maps; it does not attach it anywhere (`attach(toInterface:)`
/// does). Configuration is written into maps, so every setter takes effect on the next frame without a reload.
///
/// Thread safety: after `init` the only state is file descriptors; every operation is a bpf(2) call on them,
/// which the kernel serialises per map element. Hence `Sendable` without locks.
public final class XDPProgram: Sendable {
    /// The kernel's name for the program (shared header); used to recognise our program on an interface.
    public static let programName = TAKEOVER_XDP_PROGRAM_NAME

    /// The libbpf object; only touched again in `deinit`, so sharing it across threads is sound.
    nonisolated(unsafe) private let object: OpaquePointer
    /// File descriptor of the loaded program (owned by `object`).
    public let programFileDescriptor: Int32
    /// The kernel's id for the loaded program (as `bpftool prog show` and `bpf_xdp_query` report it).
    public let programID: UInt32

    private let configMap: Int32
    private let modeMap: Int32
    private let ipv4Map: Int32
    private let ipv6Map: Int32
    private let socketMap: Int32
    private let counterMap: Int32
    private let possibleCPUs: Int

    /// Opens the embedded object with libbpf and loads it: verifier, maps created. Maps start zeroed: mode
    /// `.off`, no MACs, nothing watched — call `configure` before switching to monitor or takeover.
    ///
    /// Throws `.insufficientPrivileges` without CAP_BPF (or CAP_SYS_ADMIN), `.systemCall` when the kernel
    /// rejects the program (libbpf prints the verifier log on standard error).
    public init() throws(XDPError) {
        var opened: OpaquePointer?
        var openFailure: SystemCallError?
        TAKEOVER_XDP_PROGRAM_NAME.withCString { name in
            withLibbpfOptions(bpf_object_open_opts.self, size: \.sz) { openOptions in
                openOptions.pointee.object_name = name
                do throws(SystemCallError) {
                    try systemCall("bpf_object__open_mem") {
                        opened = bpf_object__open_mem(takeover_xdp_object_bytes(), takeover_xdp_object_size(), openOptions)
                        return opened == nil ? -1 : 0
                    }
                } catch {
                    openFailure = error
                }
            }
        }
        if let openFailure { throw .systemCall(openFailure) }
        guard let object = opened else { throw .objectIncomplete(missing: "ELF object") }
        var loaded = false
        defer { if !loaded { bpf_object__close(object) } }

        do {
            try negativeErrnoCall("bpf_object__load") { bpf_object__load(object) }
        } catch {
            throw XDPError.classify(error)
        }

        guard let program = bpf_object__find_program_by_name(object, TAKEOVER_XDP_PROGRAM_NAME) else {
            throw .objectIncomplete(missing: "program \(TAKEOVER_XDP_PROGRAM_NAME)")
        }
        func mapDescriptor(_ name: String) throws(XDPError) -> Int32 {
            guard let map = bpf_object__find_map_by_name(object, name) else {
                throw .objectIncomplete(missing: "map \(name)")
            }
            return bpf_map__fd(map)
        }
        self.object = object
        self.programFileDescriptor = bpf_program__fd(program)
        self.configMap = try mapDescriptor(TAKEOVER_XDP_MAP_CONFIG)
        self.modeMap = try mapDescriptor(TAKEOVER_XDP_MAP_MODE)
        self.ipv4Map = try mapDescriptor(TAKEOVER_XDP_MAP_IPV4)
        self.ipv6Map = try mapDescriptor(TAKEOVER_XDP_MAP_IPV6)
        self.socketMap = try mapDescriptor(TAKEOVER_XDP_MAP_SOCKETS)
        self.counterMap = try mapDescriptor(TAKEOVER_XDP_MAP_COUNTERS)
        do {
            self.possibleCPUs = Int(try negativeErrnoCall("libbpf_num_possible_cpus") { libbpf_num_possible_cpus() })
            self.programID = try Self.information(ofProgram: programFileDescriptor).id
        } catch {
            throw .systemCall(error)
        }
        loaded = true
    }

    deinit {
        bpf_object__close(object)  // closes the program and map descriptors; an attachment keeps `self` alive
    }

    // MARK: Configuration (map writes, effective on the next frame)

    /// Our MAC (takeover rewrites to it; monitor leaves frames to it alone) and the peer's MAC.
    public func configure(ownMAC: MACAddress, peerMAC: MACAddress) throws(XDPError) {
        var config = takeover_xdp_config()
        withUnsafeMutableBytes(of: &config.own_mac) { ownMAC.write(to: $0, at: 0) }
        withUnsafeMutableBytes(of: &config.peer_mac) { peerMAC.write(to: $0, at: 0) }
        try update(configMap, "config", key: UInt32(0), value: config)
    }

    /// Flips the mode: one map write, no reload.
    public func setMode(_ mode: XDPMode) throws(XDPError) {
        try update(modeMap, "mode", key: UInt32(0), value: mode.mapValue)
    }

    /// The mode as the program currently sees it.
    public func mode() throws(XDPError) -> XDPMode {
        var key: UInt32 = 0
        var value: UInt32 = 0
        do {
            try negativeErrnoCall("bpf_map_lookup_elem(\(TAKEOVER_XDP_MAP_MODE))") {
                bpf_map_lookup_elem(modeMap, &key, &value)
            }
        } catch {
            throw .systemCall(error)
        }
        guard let mode = XDPMode(mapValue: value) else { throw .unexpectedValue("unknown XDP mode value \(value)") }
        return mode
    }

    /// Adds an address whose ARP requests / neighbour solicitations go to the AF_XDP socket in takeover mode.
    public func watch(_ address: IPAddress) throws(XDPError) {
        let present: UInt8 = 1
        switch address {
        case .v4(let v4): try update(ipv4Map, "IPv4 watch", key: v4.rawValue.bigEndian, value: present)
        case .v6(let v6): try update(ipv6Map, "IPv6 watch", key: Self.ipv6Key(v6), value: present)
        }
    }

    /// Removes a watched address; removing one that is not watched is not an error.
    public func unwatch(_ address: IPAddress) throws(XDPError) {
        switch address {
        case .v4(let v4): try delete(ipv4Map, "IPv4 watch", key: v4.rawValue.bigEndian)
        case .v6(let v6): try delete(ipv6Map, "IPv6 watch", key: Self.ipv6Key(v6))
        }
    }

    /// Puts a bound AF_XDP socket in the redirect map for RX queue `queue` (the socket's own queue).
    public func registerSocket(fileDescriptor: Int32, queue: UInt32) throws(XDPError) {
        try update(socketMap, "AF_XDP socket", key: queue, value: UInt32(bitPattern: fileDescriptor))
    }

    /// Removes the socket of RX queue `queue`; its frames fall back to the stack (counted as "no socket").
    public func unregisterSocket(queue: UInt32) throws(XDPError) {
        try delete(socketMap, "AF_XDP socket", key: queue)
    }

    // MARK: Counters

    /// All outcome counters, summed over CPUs (one bpf(2) lookup per slot).
    public func counters() throws(XDPError) -> XDPCounters {
        var perCPU = [takeover_xdp_counter_value](repeating: takeover_xdp_counter_value(), count: possibleCPUs)
        var slots: [XDPCount] = []
        slots.reserveCapacity(XDPOutcome.slotCount)
        for slot in 0..<UInt32(XDPOutcome.slotCount) {
            var key = slot
            do {
                try negativeErrnoCall("bpf_map_lookup_elem(\(TAKEOVER_XDP_MAP_COUNTERS))") {
                    perCPU.withUnsafeMutableBytes { bpf_map_lookup_elem(counterMap, &key, $0.baseAddress) }
                }
            } catch {
                throw .systemCall(error)
            }
            slots.append(perCPU.reduce(into: XDPCount()) { sum, cpu in
                sum.packets &+= cpu.packets
                sum.bytes &+= cpu.bytes
            })
        }
        return XDPCounters(slots: slots)
    }

    // MARK: Test run

    /// Runs the program once on `frame` with BPF_PROG_TEST_RUN — no interface involved — and returns its verdict
    /// and the frame as it left it. The frame arrives on the loopback device's RX queue 0, so a socket
    /// registered for queue 0 receives redirects (the redirect itself is not carried out). The kernel refuses
    /// frames shorter than an Ethernet header (EINVAL).
    public func testRun(frame: [UInt8]) throws(XDPError) -> XDPTestRun {
        var output = [UInt8](repeating: 0, count: frame.count + 256)
        let outcome: Result<(returnValue: UInt32, outputLength: Int), SystemCallError> =
            withLibbpfOptions(bpf_test_run_opts.self, size: \.sz) { options in
                options.pointee.repeat = 1
                return frame.withUnsafeBytes { input in
                    output.withUnsafeMutableBytes { out in
                        options.pointee.data_in = input.baseAddress
                        options.pointee.data_size_in = UInt32(input.count)
                        options.pointee.data_out = out.baseAddress
                        options.pointee.data_size_out = UInt32(out.count)
                        return Result { () throws(SystemCallError) in
                            try negativeErrnoCall("bpf_prog_test_run_opts") {
                                bpf_prog_test_run_opts(programFileDescriptor, options)
                            }
                            return (options.pointee.retval, Int(options.pointee.data_size_out))
                        }
                    }
                }
            }
        switch outcome {
        case .failure(let failure): throw XDPError.classify(failure)
        case .success(let run):
            return XDPTestRun(returnValue: run.returnValue, output: Array(output.prefix(run.outputLength)))
        }
    }

    // MARK: Helpers

    private func update<Key: BitwiseCopyable, Value: BitwiseCopyable>(_ map: Int32, _ what: String, key: Key, value: Value) throws(XDPError) {
        var key = key
        var value = value
        do {
            try negativeErrnoCall("bpf_map_update_elem(\(what))") {
                bpf_map_update_elem(map, &key, &value, UInt64(BPF_ANY))
            }
        } catch {
            throw XDPError.classify(error)
        }
    }

    private func delete<Key: BitwiseCopyable>(_ map: Int32, _ what: String, key: Key) throws(XDPError) {
        var key = key
        do {
            try negativeErrnoCall("bpf_map_delete_elem(\(what))") {
                let result = bpf_map_delete_elem(map, &key)
                return result == -ENOENT ? 0 : result
            }
        } catch {
            throw XDPError.classify(error)
        }
    }

    private static func ipv6Key(_ address: IPv6Address) -> takeover_xdp_ipv6_key {
        var key = takeover_xdp_ipv6_key()
        withUnsafeMutableBytes(of: &key.bytes) { address.write(to: $0, at: 0) }
        return key
    }

    /// The kernel's description of a loaded program: id and name.
    static func information(ofProgram descriptor: Int32) throws(SystemCallError) -> (id: UInt32, name: String) {
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        try negativeErrnoCall("bpf_obj_get_info_by_fd") { bpf_obj_get_info_by_fd(descriptor, &info, &length) }
        let name = withUnsafeBytes(of: info.name) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        return (info.id, name)
    }
}
