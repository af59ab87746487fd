
/// xoshiro256** seeded through SplitMix64: fast, small state, and the state
/// is four integers that a checkpoint can store and restore exactly.
public struct RNG: Equatable {
    public var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator for `seed`; different `stream`s give independent sequences.
    public init(seed: UInt64, stream: UInt64 = 0) {
        var sm = seed &+ 0x9E37_79B9_7F4A_7C15 &* (stream &+ 1)
        func splitmix() -> UInt64 {
            sm = sm &+ 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public init(state words: [UInt64]) {
        precondition(words.count == 4)
        state = (words[0], words[1], words[2], words[3])
    }

    public var words: [UInt64] { [state.0, state.1, state.2, state.3] }

    public static func == (a: RNG, b: RNG) -> Bool { a.words == b.words }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform integer in `0 ..< n` (unbiased, Lemire's method).
    @inline(__always)
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return Int(product.high)
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box-Muller, one value per call so the state alone
    /// says where the stream stands).
    public mutating func normal() -> Double {
        let u1 = 1.0 - uniform()  // (0, 1]
        let u2 = uniform()
        return (-2.0 * _log(u1)).squareRoot() * _cos(2.0 * Double.pi * u2)
    }

    /// Standard normal truncated to [-2, 2] by rejection.
    public mutating func truncatedNormal() -> Double {
        while true {
            let z = normal()
            if abs(z) <= 2 { return z }
        }
    }

    /// Fisher-Yates shuffle of `array[0..<count]`.
    public mutating func shuffle<T>(_ array: inout [T]) {
        var i = array.count - 1
        while i > 0 {
            let j = below(i + 1)
            array.swapAt(i, j)
            i -= 1
        }
    }
}

import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
