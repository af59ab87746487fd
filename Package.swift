// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "iclsweep",
    products: [
        .executable(name: "iclsweep", targets: ["iclsweep"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
    ],
    targets: [
        // MARK: - The program
        .executableTarget(
            name: "iclsweep",
            dependencies: [
                "ICLKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        // MARK: - Implementation: data, model, trainer, sweep
        .target(
            name: "ICLKit",
            dependencies: [
                "CMPI", "COpenBLAS", "CHDF5", "CKernels",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        // MARK: - System libraries (Debian: libopenmpi-dev, libopenblas-dev, libhdf5-openmpi-dev)
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-openmpi",
                       providers: [.apt(["libhdf5-openmpi-dev"])]),
        // Kernels in C for the instruction sets Swift's baseline x86-64 code cannot use (AVX2,
        // AVX-512), chosen at run time: the same arithmetic as the Swift kernels, in the same
        // order and never contracted into FMAs, so results are bitwise those of the Swift code.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-ffp-contract=off"])]),
        // MARK: - Tests
        .testTarget(name: "ICLKitTests", dependencies: ["ICLKit", "CKernels"]),
    ]
)
