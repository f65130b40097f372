import ArgumentParser
import FoundationEssentials
import TakeoverCore
import TakeoverEngine
import TakeoverLinux

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `takeover capture`: what the daemon's filter sees, as a pcapng file for Wireshark.
struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Write what the daemon's filter sees to a pcapng file.",
        discussion: """
            The daemon captures on every configured interface with the standby's selection (frames to or from \
            the peer's MAC, ARP and neighbour discovery about the group addresses) and streams the frames over \
            its control socket; this command writes them as they come, one pcapng interface per link. Stops \
            after --count frames or --duration (default: \(ControlLimits.defaultCaptureFrames) frames), or on \
            Ctrl-C. The file is created mode 0600: it holds the traffic.
            """)

    @Option(name: [.short, .long], help: ArgumentHelp("The pcapng file to write (replaced if it exists).", valueName: "file"))
    var output: String

    @Option(help: ArgumentHelp("Stop after this many frames.", valueName: "n"))
    var count: Int?

    @Option(help: ArgumentHelp("Stop after this long (e.g. 10s, 500ms, 2m).", valueName: "duration"))
    var duration: String?

    @OptionGroup var control: ControlSocketOptions

    func validate() throws {
        if let count, !(1...ControlLimits.maximumCaptureFrames).contains(count) {
            throw ValidationError("--count must be 1…\(ControlLimits.maximumCaptureFrames)")
        }
        if let duration, DurationText.parse(duration).map({ $0 > .zero }) != true {
            throw ValidationError("--duration: '\(duration)' is not a duration such as 10s or 500ms")
        }
    }

    func run() throws {
        let milliseconds = duration.flatMap(DurationText.parse).map { duration -> Int in
            let (seconds, attoseconds) = duration.components
            return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
        }
        do {
            let summary = try Self.capture(
                ControlRequest(command: .capture, count: count, durationMilliseconds: milliseconds),
                socket: control.socketPath, output: output)
            writeToStandardError("\(output): \(summary.frames) frames (\(summary.dropped) dropped by the kernel; ended: \(summary.reason))\n")
        } catch {
            throw fail(error)
        }
    }

    /// Sends the request, writes the pcapng file as lines arrive, returns the end line.
    static func capture(_ request: ControlRequest, socket: String, output: String) throws(ControlClientError) -> CaptureLine.End {
        var client = try ControlClient(path: socket)
        try client.send(request)
        let reply = try client.read(ControlReply.self, timeout: .seconds(10))
        if let error = reply.error { throw ControlClientError("\(error.code.rawValue): \(error.message)") }
        guard let header = reply.capture else { throw ControlClientError("the reply carries no capture header") }
        let writer = PcapNGWriter(
            interfaces: header.interfaces.map {
                .init(name: $0.name, linkType: PcapLinkType(rawValue: $0.linkType) ?? .ethernet, snapLength: $0.snapLength)
            })
        let file = try OutputFile(path: output)
        var bytes: [UInt8] = []
        writer.header(into: &bytes)
        try file.write(bytes)
        // A frame line may take as long as the capture's duration to come; the daemon bounds the stream.
        let lineTimeout: Duration = request.durationMilliseconds.map { .milliseconds($0) + .seconds(10) } ?? .seconds(24 * 3600)
        while true {
            guard let line = try client.readLine(timeout: lineTimeout) else {
                throw ControlClientError("the daemon ended the capture without an end line")
            }
            let decoded: CaptureLine
            do {
                decoded = try JSONDecoder().decode(CaptureLine.self, from: Data(line))
            } catch {
                throw ControlClientError("unreadable capture line: \(error)")
            }
            if let end = decoded.end { return end }
            guard let frame = decoded.frame, let data = Data(base64Encoded: frame.data) else {
                throw ControlClientError("a capture line without a frame")
            }
            bytes.removeAll(keepingCapacity: true)
            do {
                try writer.packet(
                    interface: frame.interface, timestampNanoseconds: frame.timeNanoseconds, originalLength: frame.length,
                    data: data, into: &bytes)
            } catch {
                throw ControlClientError("frame not written: \(error)")
            }
            try file.write(bytes)
        }
    }
}

/// A file written front to back, created 0600.
final class OutputFile {
    let path: String
    private let descriptor: Int32

    init(path: String) throws(ControlClientError) {
        do {
            descriptor = try systemCall("open(\(path))") { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
        } catch {
            throw ControlClientError("cannot create \(path): \(error)")
        }
        self.path = path
    }

    deinit { close(descriptor) }

    func write(_ bytes: [UInt8]) throws(ControlClientError) {
        var offset = 0
        while offset < bytes.count {
            do {
                offset += try bytes.withUnsafeBytes { (buffer) throws(SystemCallError) in
                    try systemCall("write(\(path))") { Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset) }
                }
            } catch {
                throw ControlClientError("\(error)")
            }
        }
    }
}
