// swift-tools-version: 6.1
// takeover's libFuzzer targets, a separate package so the root package never builds with the fuzzer
// sanitizer. Build and run with `fuzz/run [seconds]` (it runs
// `swift build -c release --sanitize fuzzer` here); CI calls it with a time bound.
import PackageDescription

let package = Package(
    name: "takeover-fuzz",
    dependencies: [
        .package(name: "takeover", path: ".."),
    ],
    targets: [
        // Frame bytes → FrameParser.parse → TCPTracker (TCP, UDP), and the echo turnaround on a copy.
        .executableTarget(
            name: "ParseTrackFuzzer",
            dependencies: [.product(name: "TakeoverCore", package: "takeover")],
            // libFuzzer supplies `main`: no top-level code, the entry point is the @_cdecl function.
            swiftSettings: [.swiftLanguageMode(.v6), .unsafeFlags(["-parse-as-library"])]),
    ]
)
