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
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
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
        // Shared text: JSON string literals, RFC 3339, durations, host:port, header values,
        // rejection-log field names. Pure Swift, no dependencies, so every target can use it.
        .target(
            name: "GatewayText",
            swiftSettings: fuzzFlags,
            // `Double.rounded()` calls libm's `round`; nothing here imports Glibc to link it.
            linkerSettings: [.linkedLibrary("m", .when(platforms: [.linux]))]
        ),
        // Pure token verification: no NIO, no logging.
        .target(
            name: "GatewayAuth",
            dependencies: ["COpenSSL", "CJansson", "GatewayText"],
            swiftSettings: fuzzFlags
        ),
        // The admin dashboard's files (dashboard/), embedded into GatewayServer at build time.
        .executableTarget(name: "embed-dashboard"),
        .plugin(name: "EmbedDashboard", capability: .buildTool(), dependencies: ["embed-dashboard"]),
        // The handshake pipeline as a pure function (request head and `now` in, decision out), the
        // runtime configuration values it decides against, rejections, the HTTP wire format. No
        // sockets, clocks or files: NIOCore and NIOHTTP1 only for their value types.
        .target(
            name: "GatewayHandshake",
            dependencies: [
                "GatewayAuth",
                "GatewayText",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: fuzzFlags
        ),
        // Pure relay logic: frame tracking, refresh interception, the close state machine. Takes
        // bytes and events, returns decisions; no channels, no clocks.
        .target(
            name: "GatewayRelay",
            dependencies: [
                "GatewayAuth",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: fuzzFlags
        ),
        // I/O: listeners, client handshake handler, upstream, relay, admin, sessions, cluster,
        // service lifecycle (reload, signals, metrics bootstrap).
        .target(
            name: "GatewayServer",
            dependencies: [
                "GatewayAuth",
                "GatewayText",
                "GatewayHandshake",
                "GatewayRelay",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: fuzzFlags,
            plugins: ["EmbedDashboard"]
        ),
        // YAML -> validated runtime configuration values.
        .target(
            name: "GatewayConfig",
            dependencies: [
                "GatewayAuth",
                "GatewayHandshake",
                "GatewayText",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: fuzzFlags
        ),
        // Offline reading of the rejection log for the CLI: log files and rotation, line scanner,
        // parser, filter, follower, summary; gzip through compress-nio.
        .target(
            name: "GatewayOperations",
            dependencies: [
                "GatewayHandshake",
                "GatewayText",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The demo echo backend (`wsgate demo`, `wsgate echo-backend`, tests).
        .target(
            name: "GatewayDemo",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "wsgate",
            dependencies: [
                "GatewayAuth",
                "GatewayConfig",
                "GatewayDemo",
                "GatewayHandshake",
                "GatewayOperations",
                "GatewayServer",
                "GatewayText",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
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
                "GatewayHandshake",
                "GatewayServer",
                "GatewayConfig",
                "GatewayRelay",
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
                "GatewayDemo",
                "GatewayHandshake",
                "GatewayServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
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
            name: "GatewayTextTests",
            dependencies: ["GatewayText"]
        ),
        .testTarget(
            name: "GatewayOperationsTests",
            dependencies: ["GatewayOperations", "GatewayHandshake", "GatewayText"]
        ),
        .testTarget(
            name: "GatewayConfigTests",
            dependencies: [
                "GatewayConfig", "GatewayHandshake", "GatewayAuth",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "GatewayFuzzTests",
            dependencies: ["GatewayFuzz"]
        ),
        .testTarget(
            name: "GatewayHandshakeTests",
            dependencies: ["GatewayHandshake"]
        ),
        .testTarget(
            name: "GatewayRelayTests",
            dependencies: [
                "GatewayRelay",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "GatewayServerTests",
            dependencies: [
                "GatewayServer", "GatewayHandshake", "GatewayDemo", "GatewayTesting", "GatewayAuth", "GatewayConfig",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
