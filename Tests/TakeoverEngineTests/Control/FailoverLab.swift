import Foundation
import Testing
import TakeoverCore
import TakeoverEngine
import TakeoverLab
import TakeoverLinux

/// Two nodes, A (preferred for group 7) and B, joined by two heartbeat channels on two hubs:
/// channel 0 "hub1" on 192.0.2.0/24 (eth0), channel 1 "hub2" on 198.51.100.0/24 (eth1). An intruder M sits on
/// both hubs (a hub mirrors every frame to it). Each controller is created and started on a thread inside its
/// node's namespace, so its sockets and its thread live there.
struct FailoverLab {
    enum Node: Int {
        case a = 0
        case b = 1

        var id: UInt32 { UInt32(rawValue + 1) }
        var peer: Node { self == .a ? .b : .a }
    }

    static let port: UInt16 = 7400
    static let group: UInt16 = 7
    static let interval = Duration.milliseconds(10)
    static let missCount = 3
    static let windowNanoseconds: UInt64 = 30_000_000
    static let key = [UInt8](repeating: 0x5A, count: 32)

    let lab: NetworkLab
    /// Per node: [channel 0 interface, channel 1 interface].
    let links: [[LabInterface]]
    let intruder: [LabInterface]

    init(_ label: String) throws {
        let lab = try NetworkLab(label)
        self.lab = lab
        let hubs = [try lab.addHub("hub1"), try lab.addHub("hub2")]
        let networks = ["192.0.2.", "198.51.100."]
        func attach(_ host: LabHost, _ part: UInt8) throws -> [LabInterface] {
            try (0..<2).map { channel in
                try lab.connect(host, to: hubs[channel], interface: "eth\(channel)", addresses: ["\(networks[channel])\(part)/24"])
            }
        }
        links = [try attach(try lab.addHost("a"), 1), try attach(try lab.addHost("b"), 2)]
        intruder = try attach(try lab.addHost("m"), 3)
    }

    func address(_ node: Node, channel: Int) -> IPAddress {
        links[node.rawValue][channel].addresses[0]
    }

    func configuration(_ node: Node, priority: UInt8? = nil) -> FailoverControllerConfiguration {
        FailoverControllerConfiguration(
            nodeID: node.id,
            channels: (0..<2).map { channel in
                HeartbeatChannel(
                    name: "hub\(channel + 1)", interface: "eth\(channel)", localAddress: address(node, channel: channel),
                    peerAddress: address(node.peer, channel: channel), port: Self.port)
            },
            groups: [FailoverGroup(id: Self.group, priority: priority ?? (node == .a ? 200 : 100))],
            interval: Self.interval, missCount: Self.missCount)
    }

    func start(
        _ node: Node, actions: RecordingFailoverActions, adjust: (inout FailoverControllerConfiguration) -> Void = { _ in },
        onStateChange: (@Sendable (FailoverStateChange) -> Void)? = nil,
        onDiagnostic: (@Sendable (FailoverDiagnostic) -> Void)? = nil
    ) throws -> FailoverController {
        var configuration = configuration(node)
        adjust(&configuration)
        return try lab.withNamespace(of: links[node.rawValue][0].host) {
            let controller = try FailoverController(
                configuration: configuration, authenticator: try HMACAuthenticator(key: Self.key), actions: actions,
                onStateChange: onStateChange, onDiagnostic: onDiagnostic)
            try controller.start()
            return controller
        }
    }

    func cut(_ node: Node, channel: Int) throws { try lab.setLink(links[node.rawValue][channel], up: false) }
    func restore(_ node: Node, channel: Int) throws { try lab.setLink(links[node.rawValue][channel], up: true) }

    /// Waits (bounded) until A and B are in the given states for group 7.
    static func settle(_ a: FailoverController, _ aState: FailoverState, _ b: FailoverController, _ bState: FailoverState,
                       timeout: Duration = .seconds(5)) -> Bool {
        waitUntil(timeout: timeout) { a.state(of: group) == aState && b.state(of: group) == bState }
    }
}

extension FailoverController {
    /// The newest timeline of group 7 whose transition went to `state`.
    func lastTimeline(to state: FailoverState) -> FailoverTimeline? {
        timelines.last { $0.group == FailoverLab.group && $0.transition.to == state }
    }

    /// When the last heartbeat was accepted on any channel.
    var lastHeard: MonotonicTime? {
        counters.channels.compactMap(\.lastAccepted).max()
    }
}

extension UInt64 {
    var milliseconds: String { String(format: "%.3f ms", Double(self) / 1e6) }
}
