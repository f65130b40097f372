// swift-tools-version: 6.1
// takeover — a userspace packet-processing takeover engine for Linux.
//
// Dependencies point one way: TakeoverCore ← TakeoverLinux ← TakeoverEngine ← executables.
// TakeoverCore never calls the kernel and builds and tests with no root and no NIC.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// The engine also hides members of modules its files do not import themselves: TOMLKit imports full
// Foundation, and without this Foundation's String extensions (`contains(_:)` → `range(of:)`) won the overload
// in files that import no Foundation at all, which linked FoundationInternationalization and ICU's 34 MB of
// data into the static daemon. With it, a file that wants Foundation's API has to say so.
let foundationFree: [SwiftSetting] = strict + [.enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "takeover",
    products: [
        .library(name: "TakeoverCore", targets: ["TakeoverCore"]),
        .library(name: "TakeoverLinux", targets: ["TakeoverLinux"]),
        // What an appliance firmware build embeds.
        .library(name: "Takeover", targets: ["TakeoverEngine"]),
        .executable(name: "takeover", targets: ["takeover"]),
        // What a service links to receive connections the standby rebuilt (`resume` policy): no dependencies.
        .library(name: "TakeoverResume", targets: ["TakeoverResume"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The configuration file's parser (TOML; docs/configuration.md says why not YAML).
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        // Observability and lifecycle (issue 6). swift-prometheus 2.4.1 needs only swift-metrics and swift-atomics
        // (no NIO): it renders the exposition text; the HTTP side is our own small server.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Percentiles of the failover benchmark's gaps and stalls.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", exact: "0.2.0"),
    ],
    targets: [
        // Pure Swift: addresses, frame views and builders, checksums, rings, session table, TCP tracker.
        .target(name: "TakeoverCore", dependencies: ["CTakeoverPrefetch"], swiftSettings: strict),
        // The compiler's prefetch builtin, for the session table's batched lookups (header only, no library).
        .target(name: "CTakeoverPrefetch"),

        // C shims. libpcap and linux/bpf.h both define `struct bpf_insn`, so they live in separate
        // targets, and CTakeoverPcap hides pcap.h behind an opaque API (see its header).
        .target(name: "CTakeoverPcap", linkerSettings: [.linkedLibrary("pcap")]),
        .target(
            name: "CTakeoverBPF",
            linkerSettings: [.linkedLibrary("xdp"), .linkedLibrary("bpf")]),

        // The only module that calls the kernel.
        .target(
            name: "TakeoverLinux",
            dependencies: ["TakeoverCore", "CTakeoverPcap", "CTakeoverBPF"],
            swiftSettings: strict),

        // The service side of the `resume` policy: the handoff message and its Unix socket (Foundation-free).
        .target(name: "TakeoverResume", swiftSettings: strict),
        // A request/response echo service that also continues resumed connections (docs/resume.md).
        .executableTarget(name: "takeover-resume-demo", dependencies: ["TakeoverResume"], swiftSettings: strict),

        // Wires sources → rings → tracker → controller → actions; the embeddable API.
        .target(
            name: "TakeoverEngine",
            dependencies: [
                "TakeoverCore", "TakeoverLinux", "TakeoverResume", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: foundationFree),
        // The `takeover` command: the daemon (run), its configuration (check, keygen) and its control socket's
        // clients (status, takeover, release, announce, capture).
        .executableTarget(
            name: "takeover",
            dependencies: [
                "TakeoverCore", "TakeoverLinux", "TakeoverEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        // Test and benchmark infrastructure: network-namespace labs (shells out to ip, tcpdump).
        .target(name: "TakeoverLab", dependencies: ["TakeoverCore", "TakeoverLinux"], swiftSettings: strict),

        // Data-plane benchmarks on a veth lab (root): `swift run -c release takeover-bench capture`.
        .executableTarget(
            name: "takeover-bench",
            dependencies: [
                "TakeoverCore", "TakeoverLinux", "TakeoverEngine", "TakeoverLab",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strict),

        // Fixtures are read from the source tree by path (#filePath), not bundled as resources.
        .testTarget(
            name: "TakeoverCoreTests", dependencies: ["TakeoverCore"], exclude: ["Fixtures"],
            swiftSettings: strict),
        .testTarget(
            name: "TakeoverLinuxTests", dependencies: ["TakeoverCore", "TakeoverLinux", "TakeoverLab"],
            swiftSettings: strict),
        .testTarget(
            name: "TakeoverEngineTests",
            dependencies: ["TakeoverCore", "TakeoverLinux", "TakeoverEngine", "TakeoverLab", "TakeoverResume"],
            swiftSettings: strict),
        .testTarget(
            name: "TakeoverCLITests", dependencies: ["takeover", "TakeoverCore", "TakeoverEngine", "TakeoverLab"],
            swiftSettings: strict),
        .testTarget(name: "TakeoverLabTests", dependencies: ["TakeoverCore", "TakeoverLab"], swiftSettings: strict),
        .testTarget(name: "TakeoverBenchTests", dependencies: ["takeover-bench", "TakeoverLab"], swiftSettings: strict),
    ]
)
