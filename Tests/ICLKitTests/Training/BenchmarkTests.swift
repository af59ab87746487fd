import XCTest
@testable import ICLTraining

/// What `bench` says about the BLAS kernels.
final class BenchmarkTests: XCTestCase {
    func testOldKernelsOnANewerCPUAreWarnedAboutWithTheFix() throws {
        let warning = try XCTUnwrap(Benchmark.blasCoreWarning(core: "Prescott", fmaLanes: 16))
        XCTAssert(warning.contains("runs its Prescott kernels on a CPU with AVX-512"), warning)
        XCTAssert(warning.contains("set OPENBLAS_CORETYPE to SkylakeX (AVX-512) or Haswell (AVX2)"), warning)
        XCTAssert(warning.contains("never changes it"), warning)
        XCTAssertNotNil(Benchmark.blasCoreWarning(core: "Sandybridge", fmaLanes: 8))
        for fitting in ["Cooperlake", "SkylakeX", "Haswell", "Zen"] {
            XCTAssertNil(Benchmark.blasCoreWarning(core: fitting, fmaLanes: 16), fitting)
        }
        XCTAssertNil(Benchmark.blasCoreWarning(core: "Prescott", fmaLanes: 0), "an SSE-only CPU has nothing better")
    }
}
