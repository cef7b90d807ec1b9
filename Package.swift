// swift-tools-version:6.1
import PackageDescription

// `WSGATE_FUZZ=1 swift build --scratch-path .build-fuzz --product wsgate-fuzz` (scripts/fuzz.sh)
// instruments wsgate's own modules for libFuzzer and AddressSanitizer; dependencies stay
// uninstrumented, so the fuzz build costs one more debug build, not a sanitized NIO.
// Tests/Fuzz/README.md explains the choice.
let fuzzing = Context.environment["WSGATE_FUZZ"] == "1"
let fuzzFlags: [SwiftSetting] = fuzzing ? [.unsafeFlags(["-sanitize=fuzzer,address"])] : []

let package = Package(
    name: "wsgate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "wsgate", targets: ["wsgate"]),
        .executable(name: "wsgate-bench", targets: ["wsgate-bench"]),
        .library(name: "GatewayAuth", targets: ["GatewayAuth"]),
        .executable(name: "wsgate-fuzz", targets: ["wsgate-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // System libraries: only GatewayAuth imports them.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CJansson",
            pkgConfig: "jansson",
            providers: [.apt(["libjansson-dev"])]
        ),
        // Pure token verification: no NIO, no logging.
        .target(
            name: "GatewayAuth",
            dependencies: ["COpenSSL", "CJansson"],
            swiftSettings: fuzzFlags
        ),
        // Runtime configuration values, handshake pipeline, upstream, relay, admin.
        .target(
            name: "GatewayServer",
            dependencies: [
                "GatewayAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: fuzzFlags
        ),
        // YAML -> validated runtime configuration.
        .target(
            name: "GatewayConfig",
            dependencies: [
                "GatewayAuth",
                "GatewayServer",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: fuzzFlags
        ),
        .executableTarget(
            name: "wsgate",
            dependencies: [
                "GatewayAuth",
                "GatewayConfig",
                "GatewayServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "wsgate-bench",
            dependencies: [
                "GatewayAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Fuzz targets: one check per parser, each returning the invariant it found broken. Driven
        // by libFuzzer in `wsgate-fuzz` (fuzz build) and by the corpus replay test (every build).
        .target(
            name: "CFuzzSupport",
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        .target(
            name: "GatewayFuzz",
            dependencies: [
                "GatewayAuth",
                "GatewayServer",
                "GatewayConfig",
                "CFuzzSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: fuzzFlags
        ),
        .executableTarget(
            name: "wsgate-fuzz",
            dependencies: ["GatewayFuzz", "CFuzzSupport"],
            swiftSettings: fuzzFlags + (fuzzing ? [.define("WSGATE_LIBFUZZER")] : []),
            // lld: gold fails on the sanitizer runtime ("internal error in format_file_lineno").
            linkerSettings: fuzzing ? [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])] : []
        ),
        // Test support: fixtures, real backends, withGateway { … }.
        .target(
            name: "GatewayTesting",
            dependencies: [
                "GatewayAuth",
                "GatewayServer",
                "GatewayConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "GatewayAuthTests",
            dependencies: ["GatewayAuth"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "GatewayConfigTests",
            dependencies: ["GatewayConfig", "GatewayServer", "GatewayAuth"]
        ),
        .testTarget(
            name: "GatewayFuzzTests",
            dependencies: ["GatewayFuzz"]
        ),
        .testTarget(
            name: "GatewayServerTests",
            dependencies: [
                "GatewayServer", "GatewayTesting", "GatewayAuth", "GatewayConfig",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
