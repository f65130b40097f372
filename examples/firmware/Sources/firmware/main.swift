// A firmware's failover node in one file: the configuration comes from the appliance's own settings (here the
// command line), the engine runs until SIGTERM, and every state change reaches the appliance's UI (here stdout).
//
//   firmware check ETH0 OWN-IP PEER-IP PEER-MAC GROUP-IP/PREFIX KEY-FILE NODE-ID PEER-ID
//   firmware run   (same arguments)
//
// `check` builds and validates the configuration and prints it (no root needed); `run` starts the engine.
import TakeoverCore
import TakeoverEngine

#if canImport(Glibc)
    import Glibc
#endif

func usage() -> Never {
    print("usage: firmware check|run INTERFACE OWN-IP PEER-IP PEER-MAC GROUP-IP/PREFIX KEY-FILE NODE-ID PEER-ID")
    exit(2)
}

let arguments = CommandLine.arguments.dropFirst()
guard arguments.count == 9, let mode = arguments.first, mode == "check" || mode == "run" else { usage() }
let values = Array(arguments.dropFirst())
let groupParts = values[4].split(separator: "/")
guard let own = IPAddress(values[1]), let peer = IPAddress(values[2]), let peerMAC = MACAddress(values[3]),
    groupParts.count == 2, let groupAddress = IPAddress(String(groupParts[0])), let prefix = UInt8(groupParts[1]),
    let nodeID = UInt32(values[6]), let peerID = UInt32(values[7])
else { usage() }
let interface = values[0]

// The configuration value: the same type `takeover run` gets from its TOML file.
let heartbeat = HeartbeatConfiguration(
    channels: [HeartbeatChannel(interface: interface, localAddress: own, peerAddress: peer)],
    interval: .milliseconds(20), missCount: 3, usesPeerTraffic: true, keyFile: values[5])
let configuration = EngineConfiguration(
    node: NodeIdentity(id: nodeID, name: "node\(nodeID)"), peer: NodeIdentity(id: peerID, name: "node\(peerID)"),
    interfaces: [InterfaceConfiguration(name: interface, addresses: [own], peerMAC: peerMAC, peerAddresses: [peer])],
    groups: [
        ServiceGroupConfiguration(
            id: 1, interface: interface, addresses: [InterfaceAddress(address: groupAddress, prefixLength: prefix)],
            priority: nodeID < peerID ? 200 : 100, peerPriority: nodeID < peerID ? 100 : 200)
    ],
    heartbeat: heartbeat, failover: FailoverSettings(startupWait: .seconds(1)),
    metrics: MetricsSettings(enabled: false))

let checked: EngineConfiguration
do {
    checked = try configuration.validated(environment: mode == "run" ? LinuxConfigurationEnvironment() : nil)
} catch {
    print("configuration refused:\n\(error)")
    exit(1)
}
guard mode == "run" else {
    print(checked.tomlText, terminator: "")
    exit(0)
}

exit(run(checked))

/// Starts the engine, prints its state changes, and on SIGTERM/SIGINT hands over and stops.
func run(_ configuration: EngineConfiguration) -> Int32 {
    // Block the stop signals before the engine's threads start, so only sigwait below receives them.
    var stopSignals = sigset_t()
    sigemptyset(&stopSignals)
    sigaddset(&stopSignals, SIGTERM)
    sigaddset(&stopSignals, SIGINT)
    pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

    let (changes, onStateChange) = FailoverStateChange.stream()
    let engine: Engine
    do {
        engine = try Engine(configuration: configuration, onStateChange: onStateChange)
        try engine.start()
    } catch {
        print("engine: \(error)")
        return 1
    }
    // Detached: this thread is about to block in sigwait.
    Task.detached {
        for await change in changes {
            print("group \(change.group): \(change.transition.from) → \(change.transition.to)")
        }
    }
    var received: Int32 = 0
    sigwait(&stopSignals, &received)
    return engine.shutdown() ? 0 : 1
}
