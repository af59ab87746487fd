// swift-tools-version:5.9
import PackageDescription

// The targets are the layers; each depends only on those below it:
//
//   iclsweep (command line)
//   ICLSweep      Spec/, Orchestration/ (coordinator, workers), Results/ (file, claim, outcome),
//                 Reports/ (summaries, plots), Toy/ (the minimal model and its output)
//   ICLTraining   run config, trainer, checkpoints, trace, metrics, benchmark
//   ICLModel      the transformer, its layers and kernels, Adam        (-Ounchecked)
//   ICLData       RNG, feature tables, sequence sampler
//   ICLSupport    one thin wrapper per C library, I/O calls, errors, signals, checksums, formatting
//   C modules     CMPI, CHDF5, COpenBLAS (system libraries), CKernels (C kernels)
//
// Only ICLModel, whose hot loops were measured to need it, is built with
// -Ounchecked; everything that parses input, talks to MPI or writes files
// keeps its checks, so a violated precondition stops with a message.
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
                "ICLSweep", "ICLTraining", "ICLModel", "ICLData", "ICLSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // MARK: - Layers
        .target(
            name: "ICLSweep",
            dependencies: ["ICLTraining", "ICLModel", "ICLData", "ICLSupport",
                           .product(name: "Yams", package: "Yams")]
        ),
        .target(name: "ICLTraining", dependencies: ["ICLModel", "ICLData", "ICLSupport", "CKernels", "COpenBLAS"]),
        .target(
            name: "ICLModel",
            dependencies: ["ICLData", "ICLSupport", "CKernels", "COpenBLAS"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .target(name: "ICLData", dependencies: ["ICLSupport", "CHDF5"]),
        .target(name: "ICLSupport", dependencies: ["CMPI", "COpenBLAS", "CHDF5"]),
        // MARK: - C: system libraries (Debian: libopenmpi-dev, libopenblas-dev, libhdf5-openmpi-dev)
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
        // MARK: - Tests: a folder per layer (ICLSupport/ ... ICLSweep/Spec/ ...), EndToEnd/ for
        // real mpirun and Slurm sweeps of the built binary, Fixtures/ shared by all
        .testTarget(name: "iclsweepTests",
                    dependencies: ["ICLSweep", "ICLTraining", "ICLModel", "ICLData", "ICLSupport", "CKernels"]),
    ]
)
