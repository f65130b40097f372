// The control socket's protocol (docs/control.md): one JSON object per line each way. A client sends a
// request line; the daemon answers with one reply line — except `capture`, whose reply line is followed by
// one line per frame and an end line. Field names are the Swift property names; absent optionals are omitted.

/// One request line.
public struct ControlRequest: Codable, Hashable, Sendable {
    public enum Command: String, Codable, Hashable, Sendable, CaseIterable {
        case status, takeover, release, announce, capture
    }

    public var command: Command
    /// `takeover` and `release`: the group.
    public var group: UInt16?
    /// `capture`: stop after this many frames (1…`ControlLimits.maximumCaptureFrames`).
    public var count: Int?
    /// `capture`: stop after this long, in milliseconds (1…`ControlLimits.maximumCaptureMilliseconds`).
    public var durationMilliseconds: Int?

    public init(command: Command, group: UInt16? = nil, count: Int? = nil, durationMilliseconds: Int? = nil) {
        self.command = command
        self.group = group
        self.count = count
        self.durationMilliseconds = durationMilliseconds
    }
}

/// Bounds the server enforces, so no client can make the daemon hold much memory or many threads.
public enum ControlLimits {
    /// The longest request line (bytes, newline excluded); a longer one is answered `requestTooLarge`.
    public static let maximumRequestBytes = 4096
    /// Connections open at once; more are answered `busy` and closed.
    public static let maximumConnections = 16
    /// Captures streaming at once (each has a thread and a libpcap ring per interface).
    public static let maximumCaptures = 2
    public static let maximumCaptureFrames = 10_000_000
    public static let maximumCaptureMilliseconds = 24 * 3600 * 1000
    /// A capture without `count` or `durationMilliseconds` ends after this many frames.
    public static let defaultCaptureFrames = 1000
    /// A client that does not take a reply within this long is disconnected.
    public static let replyTimeout: Duration = .seconds(2)
    /// A connection that sends no complete request within this long is closed.
    public static let idleTimeout: Duration = .seconds(30)
}

/// Why a request failed; `code` is stable, `message` is for people.
public struct ControlError: Codable, Hashable, Sendable, Error, CustomStringConvertible {
    public enum Code: String, Codable, Hashable, Sendable {
        /// Not JSON, or not a request object.
        case malformedRequest
        case requestTooLarge
        /// A field is missing or out of range for the command.
        case invalidArgument
        /// The peer's credentials (SO_PEERCRED) are not root's.
        case notAuthorized
        /// Too many connections or captures at once.
        case busy
        case unknownGroup
        /// The state machine refused the command (message says why).
        case refused
        /// The engine is not running (starting or stopping).
        case notRunning
        /// The command could not be carried out (message says why).
        case failed
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// One reply line. `ok` false carries `error`; otherwise the command's own field.
public struct ControlReply: Codable, Hashable, Sendable {
    public var ok: Bool
    public var error: ControlError?
    public var status: StatusReport?
    /// `takeover`, `release`, `announce`: what was done.
    public var message: String?
    /// `announce`: the addresses announced again, per interface.
    public var announced: [AnnouncedAddresses]?
    /// `capture`: the interfaces that follow, in `CaptureLine.frame.interface` order.
    public var capture: CaptureHeader?

    public init(
        ok: Bool = true, error: ControlError? = nil, status: StatusReport? = nil, message: String? = nil,
        announced: [AnnouncedAddresses]? = nil, capture: CaptureHeader? = nil
    ) {
        self.ok = ok
        self.error = error
        self.status = status
        self.message = message
        self.announced = announced
        self.capture = capture
    }

    public static func failure(_ error: ControlError) -> ControlReply { ControlReply(ok: false, error: error) }
}

public struct AnnouncedAddresses: Codable, Hashable, Sendable {
    public var interface: String
    public var addresses: [String]

    public init(interface: String, addresses: [String]) {
        self.interface = interface
        self.addresses = addresses
    }
}

public struct CaptureHeader: Codable, Hashable, Sendable {
    public struct Interface: Codable, Hashable, Sendable {
        public var name: String
        /// The pcap link type (1: Ethernet).
        public var linkType: UInt32
        public var snapLength: UInt32
        /// The libpcap filter expression in force (the engine's peer selection).
        public var filter: String
    }

    public var interfaces: [Interface]
}

/// A line of a capture stream after its reply: a frame, or the end.
public struct CaptureLine: Codable, Hashable, Sendable {
    public struct Frame: Codable, Hashable, Sendable {
        /// Index into `CaptureHeader.interfaces`.
        public var interface: Int
        /// Wall-clock capture time, nanoseconds since the epoch.
        public var timeNanoseconds: UInt64
        /// Length on the wire (`data` may be shorter: the snap length).
        public var length: Int
        /// The captured bytes, base64.
        public var data: String
    }

    public struct End: Codable, Hashable, Sendable {
        public var frames: UInt64
        /// Frames the kernel dropped before the capture read them (libpcap's ps_drop + ps_ifdrop, summed).
        public var dropped: UInt64
        /// Why it ended: "count", "duration", "client" (the client closed), "error: …".
        public var reason: String
    }

    public var frame: Frame?
    public var end: End?

    public init(frame: Frame? = nil, end: End? = nil) {
        self.frame = frame
        self.end = end
    }
}
