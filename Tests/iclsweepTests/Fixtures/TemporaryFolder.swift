import Foundation

/// A fresh folder under the system's temporary directory for one test,
/// named `LABEL-UUID`; the test removes it in its tear-down.
enum TemporaryFolder {
    static func make(_ label: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A fresh path (nothing made) under the system's temporary directory: `LABEL-UUID` + `suffix`.
    static func path(_ label: String, suffix: String = "") -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)\(suffix)").path
    }
}
