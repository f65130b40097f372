public import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The daemon's log lines on standard error: swift-log's `StreamLogHandler` format with milliseconds in the
/// timestamp, because at 1 ms heartbeats whole seconds cannot order a start-up, a failure and a takeover.
///
///     2026-11-22T11:28:20.417+0000 notice takeover: [TakeoverEngine] node standby started: …
///
/// One `write(2)` per line, so lines from several threads never interleave (a pipe keeps writes up to
/// PIPE_BUF = 4096 bytes whole; journald's stream reads lines).
public struct DaemonLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let fileDescriptor: Int32

    /// `fileDescriptor`: standard error (2) unless given.
    public init(label: String, fileDescriptor: Int32 = 2) {
        self.label = label
        self.fileDescriptor = fileDescriptor
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        if let error = event.error { merged["error.message"] = "\(error)" }
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var local = tm()
        var seconds = time.tv_sec
        localtime_r(&seconds, &local)
        let line = Self.line(
            time: local, milliseconds: Int(time.tv_nsec / 1_000_000), level: event.level, label: label,
            metadata: merged, source: event.source, message: event.message.description)
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return  // nowhere left to say it
                }
            }
        }
    }

    /// One line, newline included: `StreamLogHandler`'s layout, the timestamp with milliseconds.
    static func line(
        time: tm, milliseconds: Int, level: Logger.Level, label: String, metadata: Logger.Metadata, source: String,
        message: String
    ) -> String {
        var time = time
        var stamp = [CChar](repeating: 0, count: 64)
        var zone = [CChar](repeating: 0, count: 16)
        strftime(&stamp, stamp.count, "%Y-%m-%dT%H:%M:%S", &time)
        strftime(&zone, zone.count, "%z", &time)
        let fraction = String(milliseconds + 1000).dropFirst()  // three digits
        let pretty = metadata.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        let timestamp = String(decoding: stamp.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let offset = String(decoding: zone.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(timestamp).\(fraction)\(offset) \(level)\(label.isEmpty ? "" : " ")\(label):\(pretty) [\(source)] \(message)\n"
    }
}
