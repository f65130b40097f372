/// The lab most failover tests start from: a client, a primary and a standby on one hub (hub mode, so the standby
/// sees the client↔primary traffic as on a shared medium), at 192.0.2.10, .20 and .30.
public struct FailoverHub: Sendable {
    public let lab: NetworkLab
    public let hub: LabHub
    public let client: LabInterface
    public let primary: LabInterface
    public let standby: LabInterface

    public init(_ label: String) throws(LabError) {
        lab = try NetworkLab(label)
        hub = try lab.addHub()
        client = try lab.connect(try lab.addHost("client"), to: hub, addresses: ["192.0.2.10/24"])
        primary = try lab.connect(try lab.addHost("primary"), to: hub, addresses: ["192.0.2.20/24"])
        standby = try lab.connect(try lab.addHost("standby"), to: hub, addresses: ["192.0.2.30/24"])
    }
}
