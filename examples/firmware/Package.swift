// swift-tools-version: 6.1
// An appliance firmware's use of takeover: the library product `Takeover` (module TakeoverEngine), with the
// configuration built in code rather than read from a file. CI builds it (scripts/test) against the package two
// directories up, so an API change that breaks embedders breaks the build.
import PackageDescription

let package = Package(
    name: "firmware",
    dependencies: [.package(name: "takeover", path: "../..")],
    targets: [
        .executableTarget(
            name: "firmware",
            dependencies: [
                .product(name: "Takeover", package: "takeover"),
                .product(name: "TakeoverCore", package: "takeover"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)
