/// The lab most failover tests start from: a client, a primary and a standby on one segment, at 192.0.2.10, .20
/// and .30. On a hub (`.hub`: a bridge in hub mode, so the standby sees the client↔primary traffic as on a shared
/// medium) or a learning bridge whose port to the primary is mirrored to the standby's port (`.mirror`, with tc
/// `mirred`, as a switch's SPAN port would). Optionally a second, dedicated link between primary and standby
/// (198.51.100.20 and .30 on `eth1`) for a second heartbeat channel.
public struct FailoverHub: Sendable {
    public enum Topology: String, Sendable, Codable, CaseIterable {
        case hub
        case mirror
    }

    public let lab: NetworkLab
    public let topology: Topology
    public let hub: LabHub
    public let client: LabInterface
    public let primary: LabInterface
    public let standby: LabInterface
    /// The dedicated heartbeat link's ends (primary, standby), when asked for.
    public let primaryHeartbeat: LabInterface?
    public let standbyHeartbeat: LabInterface?

    public init(_ label: String, topology: Topology = .hub, heartbeatLink: Bool = false) throws(LabError) {
        lab = try NetworkLab(label)
        self.topology = topology
        hub = try lab.addHub(hubMode: topology == .hub)
        client = try lab.connect(try lab.addHost("client"), to: hub, addresses: ["192.0.2.10/24"])
        primary = try lab.connect(try lab.addHost("primary"), to: hub, addresses: ["192.0.2.20/24"])
        standby = try lab.connect(try lab.addHost("standby"), to: hub, addresses: ["192.0.2.30/24"])
        if topology == .mirror { try lab.mirror(primary.hubPort, to: standby.hubPort, in: hub) }
        if heartbeatLink {
            let link = try lab.addHub("hb")
            primaryHeartbeat = try lab.connect(primary.host, to: link, interface: "eth1", addresses: ["198.51.100.20/24"])
            standbyHeartbeat = try lab.connect(standby.host, to: link, interface: "eth1", addresses: ["198.51.100.30/24"])
        } else {
            primaryHeartbeat = nil
            standbyHeartbeat = nil
        }
    }
}
