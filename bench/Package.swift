// swift-tools-version: 6.1
// takeover microbenchmarks (ordo-one/benchmark). Run with `bench/run`; results in bench/RESULTS.md.
//
// Each benchmark suite lives in Benchmarks/<Name>/ and is listed in `suites` below: adding one is adding its
// name (and, if it needs more than TakeoverCore, its extra dependencies) to that list.
import PackageDescription

let suites: [(name: String, extraDependencies: [Target.Dependency])] = [
    ("Ring", ["CReferenceRing", "CBenchSupport"]),
    ("Builders", []),
    ("ParseTrack", ["BenchFixtures"]),
    ("SessionTable", ["BenchFixtures", "BaselineSessions", .product(name: "TakeoverLinux", package: "takeover")]),
    (
        "PcapReceive",
        [
            "CBenchSupport", .product(name: "TakeoverLinux", package: "takeover"),
            .product(name: "Takeover", package: "takeover"),
        ]
    ),
]

let package = Package(
    name: "takeover-bench",
    dependencies: [
        .package(name: "takeover", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The C reference for the Swift SPSC ring: same algorithm, same batch API, C11 atomics.
        .target(name: "CReferenceRing"),
        // Thread pinning and other libc helpers that Swift's Glibc module does not import.
        .target(name: "CBenchSupport"),
        // The session table's operations alone, to count their instructions under callgrind (bench/instructions).
        .executableTarget(
            name: "SessionTableInstructions",
            dependencies: ["BenchFixtures", "BaselineSessions", .product(name: "TakeoverCore", package: "takeover")],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        // Old and new session tables at 1M entries, their operations timed in alternating chunks in one process
        // (bench/ab-sessions): on a shared machine the noise then falls on both alike.
        .executableTarget(
            name: "SessionTableAB",
            dependencies: [
                "BenchFixtures", "BaselineSessions", .product(name: "TakeoverCore", package: "takeover"),
                .product(name: "TakeoverLinux", package: "takeover"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        // A frozen copy of the session table and tracker before the tag array and the hash-once API, so the
        // SessionTable suite and bench/instructions measure old and new side by side in one run.
        .target(
            name: "BaselineSessions",
            dependencies: ["CBenchSupport", .product(name: "TakeoverCore", package: "takeover")],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        // Setup helpers shared by suites: seeded generator, the repository's captured frames, random flows.
        .target(
            name: "BenchFixtures", dependencies: [.product(name: "TakeoverCore", package: "takeover")],
            swiftSettings: [.swiftLanguageMode(.v6)]),
    ] + suites.map { suite in
        .executableTarget(
            name: suite.name,
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "TakeoverCore", package: "takeover"),
            ] + suite.extraDependencies,
            path: "Benchmarks/\(suite.name)",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")])
    }
)
