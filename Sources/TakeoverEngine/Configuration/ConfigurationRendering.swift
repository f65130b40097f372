import TakeoverCore

extension EngineConfiguration {
    /// The configuration as a TOML file with every key present, defaults included: what `takeover check`
    /// prints. Parsing this text gives back an equal configuration.
    public var tomlText: String {
        var out = TOMLWriter()
        for (header, identity) in [("node", node), ("peer", peer)] {
            out.table(header)
            out.key("id", identity.id)
            out.key("name", string: identity.name)
        }
        for interface in interfaces {
            out.table("interfaces", array: true)
            out.key("name", string: interface.name)
            if let mac = interface.mac {
                out.key("mac", string: mac.description)
            } else {
                out.comment("mac: not set; read from \(interface.name) at start")
            }
            out.key("addresses", strings: interface.addresses.map(\.description))
            out.key("peer-mac", string: interface.peerMAC.description)
            out.key("peer-addresses", strings: interface.peerAddresses.map(\.description))
        }
        for group in groups {
            out.table("groups", array: true)
            out.key("id", group.id)
            out.key("interface", string: group.interface)
            out.key("addresses", strings: group.addresses.map(\.description))
            let priorities = [(node.name, group.priority), (peer.name, group.peerPriority)]
            out.line("priority = { \(priorities.map { "\(TOMLSyntax.key($0)) = \($1)" }.joined(separator: ", ")) }")
        }
        out.table("heartbeat")
        out.key("interval", duration: heartbeat.interval)
        out.key("miss-count", heartbeat.missCount)
        out.key("peer-traffic", heartbeat.usesPeerTraffic)
        if let window = heartbeat.unansweredWindow {
            out.key("unanswered-window", duration: window)
            out.key("unanswered-frames", heartbeat.unansweredFrames)
            out.key("unanswered-after", heartbeat.unansweredAfter)
        }
        out.key("stall-cover", duration: heartbeat.stallCover ?? .zero)
        if let cpus = heartbeat.cpus {
            out.key("cpus", integers: cpus)
        } else if heartbeat.stallCover != nil {
            out.comment("cpus: not set; the controller and the cover on the highest two CPUs the daemon may use")
        } else {
            out.comment("cpus: not set; the controller thread is not pinned")
        }
        out.key("key-file", string: heartbeat.keyFile)
        for channel in heartbeat.channels {
            out.table("heartbeat.channels", array: true)
            if let interface = channel.interface { out.key("interface", string: interface) }
            out.key("local", string: channel.localAddress.description)
            out.key("peer", string: channel.peerAddress.description)
            out.key("port", channel.port)
        }
        out.table("engine")
        out.key("mode", string: engine.mode.rawValue)
        out.key("capture", string: engine.capture.rawValue)
        out.key("tcp-policy", string: engine.tcpPolicy.rawValue)
        out.key("resume-socket", string: engine.resumeSocketPath)
        out.table("announcements")
        out.key("count", announcements.count)
        out.key("spacing", duration: announcements.spacing)
        out.key("refresh", duration: announcements.refresh)
        out.table("failover")
        out.key("preempt", failover.preempt)
        out.key("preempt-delay", duration: failover.preemptDelay)
        out.key("startup-wait", duration: failover.startupWait)
        for hook in hooks {
            out.table("hooks", array: true)
            out.key("path", string: hook.path)
            out.key("arguments", strings: hook.arguments)
            out.key("timeout", duration: hook.timeout)
        }
        out.table("metrics")
        out.key("enabled", metrics.enabled)
        let host = if case .v6 = metrics.address { "[\(metrics.address)]" } else { metrics.address.description }
        out.key("address", string: "\(host):\(metrics.port)")
        out.table("control")
        out.key("socket", string: control.socketPath)
        return out.text
    }
}

/// Just enough TOML writing for `tomlText`: tables, keys, strings, integers, booleans, integer and string arrays.
private struct TOMLWriter {
    var text = ""

    mutating func line(_ line: String) { text += line + "\n" }
    mutating func comment(_ comment: String) { line("# " + comment) }

    mutating func table(_ name: String, array: Bool = false) {
        if !text.isEmpty { text += "\n" }
        line(array ? "[[\(name)]]" : "[\(name)]")
    }

    mutating func key(_ key: String, _ value: some BinaryInteger) { line("\(key) = \(value)") }
    mutating func key(_ key: String, _ value: Bool) { line("\(key) = \(value)") }
    mutating func key(_ key: String, string value: String) { line("\(key) = \(TOMLSyntax.quoted(value))") }
    mutating func key(_ key: String, duration: Duration) { self.key(key, string: DurationText.format(duration)) }
    mutating func key(_ key: String, integers values: [Int]) {
        line("\(key) = [\(values.map(String.init).joined(separator: ", "))]")
    }
    mutating func key(_ key: String, strings values: [String]) {
        line("\(key) = [\(values.map(TOMLSyntax.quoted).joined(separator: ", "))]")
    }
}
