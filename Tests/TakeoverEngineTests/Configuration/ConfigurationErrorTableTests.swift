import Testing

@testable import TakeoverEngine

/// One bad input and exactly the problems it must produce, in order.
struct BadConfiguration: CustomTestStringConvertible, Sendable {
    var name: String
    var text: String
    var expected: [String]

    init(_ name: String, replace old: String, with new: String, _ expected: [String]) {
        self.name = name
        self.text = minimalConfiguration.replacing(exactly: old, with: new)
        self.expected = expected
    }

    init(_ name: String, append: String, _ expected: [String]) {
        self.name = name
        self.text = minimalConfiguration + append
        self.expected = expected
    }

    var testDescription: String { name }
}

private let knownRootKeys =
    "node, peer, interfaces, groups, heartbeat, engine, announcements, failover, hooks, metrics, control"

let badConfigurations: [BadConfiguration] = [
    // Keys
    BadConfiguration(
        "unknown top-level table", append: "\n[logging]\nlevel = \"debug\"\n",
        ["logging: unknown key; known keys here: \(knownRootKeys)"]),
    BadConfiguration(
        "misspelt key: unknown and missing, both reported", replace: "addresses = [\"192.0.2.100/24\"]",
        with: "adresses = [\"192.0.2.100/24\"]",
        [
            "groups[0].adresses: unknown key (did you mean addresses?); known keys here: id, interface, addresses, priority",
            "groups[0].addresses: missing; this key is required",
        ]),
    BadConfiguration(
        "a hook given as a shell command", append: "\n[[hooks]]\ncommand = \"/usr/bin/logger takeover\"\n",
        [
            "hooks[0].command: unknown key; known keys here: path, arguments, timeout",
            "hooks[0].path: missing; this key is required",
        ]),
    BadConfiguration(
        "missing required table", replace: "[peer]\nid = 2\nname = \"beta\"\n", with: "",
        ["peer: missing; this key is required"]),
    // Types
    BadConfiguration(
        "string for an integer", replace: "[node]\nid = 1", with: "[node]\nid = \"1\"",
        ["node.id: expected an integer, found a string"]),
    BadConfiguration(
        "table for an array", replace: "addresses = [\"192.0.2.11\"]", with: "addresses = { a = 1 }",
        ["interfaces[0].addresses: expected an array, found a table"]),
    BadConfiguration(
        "integer for a duration", replace: "[heartbeat]\n", with: "[heartbeat]\ninterval = 10\n",
        [
            "heartbeat.interval: expected a duration string (a number and a unit (ns, us, ms, s, m, h), like \"10ms\" or \"1.5s\"), found an integer (write \"10ms\" or another unit)"
        ]),
    BadConfiguration(
        "string for a boolean", replace: "[heartbeat]\n", with: "[heartbeat]\npeer-traffic = \"yes\"\n",
        ["heartbeat.peer-traffic: expected a boolean (true or false), found a string"]),
    BadConfiguration(
        "unanswered-after at the miss count", replace: "[heartbeat]\n",
        with: "[heartbeat]\nmiss-count = 3\nunanswered-window = \"8ms\"\nunanswered-after = 3\n",
        ["heartbeat.unanswered-after: 3 must be below miss-count (3)"]),
    BadConfiguration(
        "stall-cover not longer than the interval", replace: "[heartbeat]\n",
        with: "[heartbeat]\ninterval = \"10ms\"\nstall-cover = \"5ms\"\n",
        ["heartbeat.stall-cover: 5ms must be longer than interval (10ms), or 0s (off)"]),
    // `cpus`: the controller's CPU, then the cover's (the cover is on below 50 ms intervals unless stall-cover = "0s").
    BadConfiguration(
        "cpus: one CPU while the cover is on", replace: "[heartbeat]\n", with: "[heartbeat]\ninterval = \"10ms\"\ncpus = [1]\n",
        ["heartbeat.cpus: 2 CPUs needed while stall-cover is on (the controller's, then the cover's)"]),
    BadConfiguration(
        "cpus: one CPU with the cover turned on explicitly", replace: "[heartbeat]\n",
        with: "[heartbeat]\nstall-cover = \"200ms\"\ncpus = [0]\n",
        ["heartbeat.cpus: 2 CPUs needed while stall-cover is on (the controller's, then the cover's)"]),
    BadConfiguration(
        "cpus: a CPU given twice", replace: "[heartbeat]\n", with: "[heartbeat]\ninterval = \"10ms\"\ncpus = [1, 1]\n",
        ["heartbeat.cpus: CPU 1 given twice"]),
    BadConfiguration(
        "cpus: a CPU given twice with the cover off", replace: "[heartbeat]\n", with: "[heartbeat]\ncpus = [3, 3]\n",
        ["heartbeat.cpus: CPU 3 given twice"]),
    BadConfiguration(
        "cpus: a negative CPU", replace: "[heartbeat]\n", with: "[heartbeat]\ncpus = [-1, 0]\n",
        ["heartbeat.cpus[0]: -1 is out of range (0–1023)"]),
    BadConfiguration(
        "cpus: beyond cpu_set_t", replace: "[heartbeat]\n", with: "[heartbeat]\ncpus = [1024]\n",
        ["heartbeat.cpus[0]: 1024 is out of range (0–1023)"]),
    BadConfiguration(
        "cpus: three CPUs", replace: "[heartbeat]\n", with: "[heartbeat]\ncpus = [0, 1, 2]\n",
        ["heartbeat.cpus: has 3 entries; at most 2 are allowed"]),
    BadConfiguration(
        "cpus: empty", replace: "[heartbeat]\n", with: "[heartbeat]\ncpus = []\n", ["heartbeat.cpus: must not be empty"]),
    BadConfiguration(
        "cpus: a number, not an array", replace: "[heartbeat]\n", with: "[heartbeat]\ncpus = 1\n",
        ["heartbeat.cpus: expected an array, found an integer"]),
    BadConfiguration(
        "cpus: a string entry", replace: "[heartbeat]\n", with: "[heartbeat]\ncpus = [\"0\", 1]\n",
        ["heartbeat.cpus[0]: expected an integer, found a string"]),
    BadConfiguration(
        "date for a string", replace: "name = \"alpha\"", with: "name = 2026-11-22",
        ["node.name: expected a string, found a date or time"]),
    BadConfiguration(
        "word not in the list", append: "\n[engine]\ncapture = \"af_packet\"\n",
        ["engine.capture: \"af_packet\" is not one of \"auto\", \"xdp\", \"pcap\""]),
    // Formats
    BadConfiguration(
        "MAC with five octets", replace: "peer-mac = \"02:00:5e:00:53:0c\"", with: "peer-mac = \"02:00:5e:00:53\"",
        [
            "interfaces[0].peer-mac: \"02:00:5e:00:53\" is not a MAC address; expected six hex pairs like \"02:00:5e:00:53:01\""
        ]),
    BadConfiguration(
        "multicast MAC", replace: "peer-mac = \"02:00:5e:00:53:0c\"", with: "peer-mac = \"01:00:5e:00:00:01\"",
        ["interfaces[0].peer-mac: 01:00:5e:00:00:01 is a multicast address; a node's MAC is a unicast address"]),
    BadConfiguration(
        "IPv4 octet above 255", replace: "peer-addresses = [\"192.0.2.12\"]",
        with: "peer-addresses = [\"192.0.2.300\"]",
        ["interfaces[0].peer-addresses[0]: \"192.0.2.300\" is not an IPv4 or IPv6 address"]),
    BadConfiguration(
        "own address with a prefix", replace: "addresses = [\"192.0.2.11\"]", with: "addresses = [\"192.0.2.11/24\"]",
        ["interfaces[0].addresses[0]: \"192.0.2.11/24\": write this address without a prefix length"]),
    BadConfiguration(
        "bad IPv6 in a channel", replace: "peer = \"192.0.2.12\"", with: "peer = \"2001:db8:::12\"",
        ["heartbeat.channels[0].peer: \"2001:db8:::12\" is not an IPv4 or IPv6 address"]),
    BadConfiguration(
        "duration without a unit", replace: "[heartbeat]\n", with: "[heartbeat]\ninterval = \"10\"\n",
        [
            "heartbeat.interval: \"10\" is not a duration; expected a number and a unit (ns, us, ms, s, m, h), like \"10ms\" or \"1.5s\""
        ]),
    BadConfiguration(
        "interface name too long", replace: "name = \"eth0\"", with: "name = \"a-very-long-name0\"",
        [
            "interfaces[0].name: \"a-very-long-name0\" is not a valid interface name (1–15 bytes, no \"/\", \":\" or spaces)"
        ]),
    BadConfiguration(
        "node name with a space", replace: "name = \"alpha\"", with: "name = \"alpha one\"",
        ["node.name: \"alpha one\" is not a node name; use 1–64 letters, digits, \"-\", \"_\" or \".\""]),
    BadConfiguration(
        "metrics address without a port", append: "\n[metrics]\naddress = \"127.0.0.1\"\n",
        ["metrics.address: \"127.0.0.1\" is not an address and port, like \"127.0.0.1:9464\" or \"[::1]:9464\""]),
    BadConfiguration(
        "relative hook path", append: "\n[[hooks]]\npath = \"notify.sh\"\n",
        ["hooks[0].path: \"notify.sh\" is not an absolute path"]),
    // Ranges
    BadConfiguration(
        "interval below 1 ms", replace: "[heartbeat]\n", with: "[heartbeat]\ninterval = \"500us\"\n",
        ["heartbeat.interval: 500us is below the minimum 1ms"]),
    BadConfiguration(
        "interval above 10 s", replace: "[heartbeat]\n", with: "[heartbeat]\ninterval = \"1m\"\n",
        ["heartbeat.interval: 1m is above the maximum 10s"]),
    BadConfiguration(
        "miss count 0", replace: "[heartbeat]\n", with: "[heartbeat]\nmiss-count = 0\n",
        ["heartbeat.miss-count: 0 is out of range (1–1000)"]),
    BadConfiguration(
        "priority above 255", replace: "alpha = 200", with: "alpha = 256",
        ["groups[0].priority.alpha: 256 is out of range (0–255)"]),
    BadConfiguration(
        "node id 0", replace: "[node]\nid = 1", with: "[node]\nid = 0",
        ["node.id: 0 is out of range (1–4294967295)"]),
    BadConfiguration(
        "group id above 65535", replace: "[[groups]]\nid = 1", with: "[[groups]]\nid = 65536",
        ["groups[0].id: 65536 is out of range (1–65535)"]),
    BadConfiguration(
        "IPv4 prefix 33", replace: "\"192.0.2.100/24\"", with: "\"192.0.2.100/33\"",
        ["groups[0].addresses[0]: prefix length \"33\" is out of range for 192.0.2.100 (1–32)"]),
    BadConfiguration(
        "IPv6 prefix 129", replace: "\"192.0.2.100/24\"", with: "\"2001:db8::100/129\"",
        ["groups[0].addresses[0]: prefix length \"129\" is out of range for 2001:db8::100 (1–128)"]),
    BadConfiguration(
        "group address without a prefix", replace: "\"192.0.2.100/24\"", with: "\"192.0.2.100\"",
        ["groups[0].addresses[0]: \"192.0.2.100\" needs a prefix length, like \"192.0.2.10/24\" or \"2001:db8::10/64\""]
    ),
    BadConfiguration(
        "port 0", replace: "peer = \"192.0.2.12\"", with: "peer = \"192.0.2.12\"\nport = 0",
        ["heartbeat.channels[0].port: 0 is out of range (1–65535)"]),
    BadConfiguration(
        "announcement count 0", append: "\n[announcements]\ncount = 0\n",
        ["announcements.count: 0 is out of range (1–100)"]),
    BadConfiguration(
        "nine heartbeat channels",
        append: (1...8).map {
            "\n[[heartbeat.channels]]\ninterface = \"eth1\"\nlocal = \"198.51.100.11\"\npeer = \"198.51.100.12\"\nport = \(7410 + $0)\n"
        }.joined(),
        ["heartbeat.channels: has 9 entries; at most 8 are allowed"]),
    BadConfiguration(
        "control socket path too long",
        append: "\n[control]\nsocket = \"/run/\(String(repeating: "s", count: 103))\"\n",
        ["control.socket: 108 bytes; a Unix socket path holds at most 107"]),
    // Cross-checks
    BadConfiguration(
        "peer with our id and name", replace: "[peer]\nid = 2\nname = \"beta\"",
        with: "[peer]\nid = 1\nname = \"alpha\"",
        [
            "peer.id: 1 is our own id (node.id); the peer needs its own",
            "peer.name: \"alpha\" is our own name (node.name); the peer needs its own",
        ]),
    BadConfiguration(
        "peer MAC equal to ours", replace: "name = \"eth0\"\n", with: "name = \"eth0\"\nmac = \"02:00:5e:00:53:0c\"\n",
        ["interfaces[0].peer-mac: 02:00:5e:00:53:0c is our own MAC (interfaces[0].mac); the peer's MAC must differ"]),
    BadConfiguration(
        "peer address equal to ours", replace: "peer-addresses = [\"192.0.2.12\"]",
        with: "peer-addresses = [\"192.0.2.12\", \"192.0.2.11\"]",
        [
            "interfaces[0].peer-addresses[1]: 192.0.2.11 is our own address (interfaces[0].addresses[0])",
            "heartbeat.channels[0].local: 192.0.2.11 is the peer's address (interfaces[0].peer-addresses[1])",
        ]),
    BadConfiguration(
        "duplicate group ids",
        append: "\n[[groups]]\nid = 1\naddresses = [\"192.0.2.101/24\"]\npriority = { alpha = 100, beta = 200 }\n",
        ["groups[1].id: group 1 is already defined at groups[0]"]),
    BadConfiguration(
        "group address that is our own interface address",
        append: "\n[[groups]]\nid = 2\naddresses = [\"192.0.2.11/24\"]\npriority = { alpha = 100, beta = 200 }\n",
        [
            "groups[1].addresses[0]: 192.0.2.11 is our own interface address (interfaces[0].addresses[0]); a group's addresses move between the nodes"
        ]),
    BadConfiguration(
        "group address that is the peer's own address",
        replace: "\"192.0.2.100/24\"", with: "\"192.0.2.100/24\", \"192.0.2.12/24\"",
        [
            "groups[0].addresses[1]: 192.0.2.12 is the peer's own address (interfaces[0].peer-addresses[0]); a group's addresses move between the nodes"
        ]),
    BadConfiguration(
        "address in two groups",
        append: "\n[[groups]]\nid = 2\naddresses = [\"192.0.2.100/24\"]\npriority = { alpha = 100, beta = 200 }\n",
        ["groups[1].addresses[0]: 192.0.2.100 is already a service address at groups[0].addresses[0]"]),
    BadConfiguration(
        "priority for an unknown node, none for the peer", replace: "beta = 100", with: "gamma = 100",
        [
            "groups[0].priority.gamma: unknown key; known keys here: alpha, beta",
            "groups[0].priority.beta: missing; this key is required",
        ]),
    BadConfiguration(
        "priorities under the wrong name; a dotted name is quoted in the key path",
        replace: "name = \"alpha\"", with: "name = \"alpha.1\"",
        [
            "groups[0].priority.alpha: unknown key (did you mean alpha.1?); known keys here: alpha.1, beta",
            "groups[0].priority.\"alpha.1\": missing; this key is required",
        ]),
    BadConfiguration(
        "group on an unconfigured interface", replace: "[[groups]]\nid = 1\n",
        with: "[[groups]]\nid = 1\ninterface = \"eth9\"\n",
        ["groups[0].interface: \"eth9\" is not one of the configured interfaces (eth0)"]),
    BadConfiguration(
        "group without interface among several",
        append: "\n[[interfaces]]\nname = \"eth1\"\npeer-mac = \"02:00:5e:00:53:1c\"\n",
        ["groups[0].interface: missing; required when several interfaces are configured"]),
    BadConfiguration(
        "duplicate interface", append: "\n[[interfaces]]\nname = \"eth0\"\npeer-mac = \"02:00:5e:00:53:1c\"\n",
        [
            "interfaces[1].name: \"eth0\" is already configured at interfaces[0]",
            "groups[0].interface: missing; required when several interfaces are configured",
        ]),
    BadConfiguration(
        "channel to ourselves", replace: "peer = \"192.0.2.12\"", with: "peer = \"192.0.2.11\"",
        [
            "heartbeat.channels[0].peer: 192.0.2.11 is the local address of this channel too",
            "heartbeat.channels[0].peer: 192.0.2.11 is our own address (interfaces[0].addresses[0])",
        ]),
    BadConfiguration(
        "channel mixing IP versions", replace: "peer = \"192.0.2.12\"", with: "peer = \"2001:db8::12\"",
        ["heartbeat.channels[0].peer: 2001:db8::12 and the local address 192.0.2.11 are of different IP versions"]),
    BadConfiguration(
        "channel on a service address", replace: "local = \"192.0.2.11\"", with: "local = \"192.0.2.100\"",
        [
            "heartbeat.channels[0].local: 192.0.2.100 is a service address (groups[0].addresses[0]); heartbeats need fixed addresses that do not move"
        ]),
    BadConfiguration(
        "the same channel twice",
        append: "\n[[heartbeat.channels]]\ninterface = \"eth0\"\nlocal = \"192.0.2.11\"\npeer = \"192.0.2.12\"\n",
        ["heartbeat.channels[1]: same interface, addresses and port as heartbeat.channels[0]"]),
    BadConfiguration(
        "no heartbeat channel",
        replace: "[[heartbeat.channels]]\ninterface = \"eth0\"\nlocal = \"192.0.2.11\"\npeer = \"192.0.2.12\"\n",
        with: "channels = []\n",
        ["heartbeat.channels: must not be empty"]),
    BadConfiguration(
        "resume in stateless mode", append: "\n[engine]\nmode = \"stateless\"\ntcp-policy = \"resume\"\n",
        [
            "engine.tcp-policy: \"resume\" needs mode \"state-based\": a stateless standby has tracked no sessions to resume"
        ]),
    BadConfiguration(
        "startup wait below one interval", append: "\n[failover]\nstartup-wait = \"50ms\"\n",
        [
            "failover.startup-wait: 50ms is shorter than one heartbeat interval (100ms): the node would serve before its peer could be heard"
        ]),
    BadConfiguration(
        "refresh shorter than a round",
        append: "\n[announcements]\ncount = 5\nspacing = \"100ms\"\nrefresh = \"400ms\"\n",
        ["announcements.refresh: 400ms is shorter than one round of announcements (count × spacing = 500ms)"]),
    // Not TOML at all
    BadConfiguration(
        "a key given twice", replace: "[node]\nid = 1", with: "[node]\nid = 1\nid = 3",
        [
            "not valid TOML at line 3, column 6: Error while parsing key-value pair: cannot redefine existing integer 'id'"
        ]),
    BadConfiguration(
        "syntax error", replace: "[[groups]]\nid = 1", with: "[[groups]]\nid = = 1",
        ["not valid TOML at line 16, column 6: Error while parsing value: could not determine value type"]),
]

@Suite("Configuration errors")
struct ConfigurationErrorTableTests {
    @Test("the minimal configuration is valid")
    func minimalIsValid() {
        #expect(problems(minimalConfiguration) == [])
    }

    @Test("each bad input names its key and problem", arguments: badConfigurations)
    func badInput(_ bad: BadConfiguration) {
        #expect(problems(bad.text) == bad.expected)
    }

    @Test("all problems of a file are reported together, in file order")
    func allProblemsTogether() {
        let text =
            minimalConfiguration
            .replacing(exactly: "[node]\nid = 1", with: "[node]\nid = -4")
            .replacing(exactly: "peer-mac = \"02:00:5e:00:53:0c\"", with: "peer-mac = \"zz:00:5e:00:53:0c\"")
            .replacing(exactly: "alpha = 200", with: "alpha = 300")
            .replacing(exactly: "[heartbeat]\n", with: "[heartbeat]\ninterval = \"0.5ms\"\nmiss-count = 0\n")
            + "\n[failover]\npreempt = \"no\"\n"
        #expect(
            problems(text) == [
                "node.id: -4 is out of range (1–4294967295)",
                "interfaces[0].peer-mac: \"zz:00:5e:00:53:0c\" is not a MAC address; expected six hex pairs like \"02:00:5e:00:53:01\"",
                "groups[0].priority.alpha: 300 is out of range (0–255)",
                "heartbeat.interval: 500us is below the minimum 1ms",
                "heartbeat.miss-count: 0 is out of range (1–1000)",
                "failover.preempt: expected a boolean (true or false), found a string",
            ])
    }

    @Test("a NUL byte is refused instead of ending the file early")
    func nulByte() {
        #expect(problems(minimalConfiguration + "\0[bogus]\n") == ["the file contains a NUL byte; it is not TOML text"])
    }

    @Test("ConfigurationErrors prints every problem on its own line")
    func errorDescription() {
        let errors = ConfigurationErrors([
            ConfigurationProblem("heartbeat.interval", "too short"),
            ConfigurationProblem(.root + "groups" + 1 + "addresses" + 0, "taken"),
        ])
        #expect(
            errors.description
                == "configuration has 2 problems:\n  heartbeat.interval: too short\n  groups[1].addresses[0]: taken")
    }
}
