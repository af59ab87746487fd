import Foundation

/// A 64-bit checksum over the stored arrays' bytes, in a fixed order.
package struct Checksum {
    package private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    package init() {}

    package mutating func add<T>(_ values: [T]) {
        values.withUnsafeBytes { raw in
            // FNV-1a over 8-byte words, then the tail bytes: fast and order-sensitive.
            let words = raw.count / 8
            for i in 0..<words {
                value = (value ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x0000_0100_0000_01B3
            }
            for i in (words * 8)..<raw.count { value = (value ^ UInt64(raw[i])) &* 0x0000_0100_0000_01B3 }
        }
        value ^= UInt64(values.count) &* 0x9E37_79B9_7F4A_7C15
    }

    package mutating func add(_ text: String) { add(Array(text.utf8)) }

    package var hex: String { String(format: "%016llx", value) }
}
