import Foundation
import Yams
import ICLData
import ICLTraining

/// One run's field values by path, read from `--name value` and
/// `--set path=value` command-line words through the field table, and the
/// run's config made from them as a spec makes it: what is not given takes
/// the table's default, or its value derived from the run. `train` and
/// `bench` read their runs so.
public struct RunSettings {
    public private(set) var values: [String: FieldValue] = [:]

    public init(_ values: [String: FieldValue] = [:]) { self.values = values }

    /// A field problem on the command line: `--option: message`.
    public struct OptionError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads `words`: `--OPTION VALUE`, `--OPTION=VALUE`, a bare `--OPTION`
    /// for an off/on field (on), and `--set PATH=VALUE` for any field by its
    /// spec path. Each value is read as the spec reads it (`1_000`, `2e7`).
    public mutating func read(_ words: [String]) throws {
        var i = 0
        while i < words.count {
            let word = words[i]
            i += 1
            guard word.hasPrefix("--") else { throw OptionError(description: "unexpected argument '\(word)'") }
            var name = String(word.dropFirst(2)), value: String?
            if let eq = name.firstIndex(of: "=") { value = String(name[name.index(after: eq)...]); name = String(name[..<eq]) }
            if name == "set" {
                if value == nil, i < words.count { value = words[i]; i += 1 }
                guard let assignment = value, let eq = assignment.firstIndex(of: "=") else {
                    throw OptionError(description: "--set: expected PATH=VALUE, e.g. --set model.layers=12")
                }
                let path = String(assignment[..<eq])
                guard let field = SpecField.byPath[path] else {
                    throw OptionError(description: "--set: no field '\(path)' (`iclsweep fields` lists them)")
                }
                try set(field, String(assignment[assignment.index(after: eq)...]), as: "--set \(path)")
                continue
            }
            guard let field = SpecField.byOption[name] else {
                throw OptionError(description: "unknown option '--\(name)' (`iclsweep fields` lists the run's fields and their options)")
            }
            if value == nil {
                if case .choice(let choices) = field.kind, choices == ["off", "on"], i >= words.count || words[i].hasPrefix("--") {
                    value = "on"
                } else if i < words.count {
                    value = words[i]; i += 1
                } else {
                    throw OptionError(description: "--\(name): missing value")
                }
            }
            try set(field, value!, as: "--\(name)")
        }
    }

    private mutating func set(_ field: SpecField, _ text: String, as option: String) throws {
        do {
            let node = try Yams.compose(yaml: text) ?? Node.scalar(.init(text))
            values[field.path] = try field.kind.read(SpecReader(file: option, node: node, path: field.path))
        } catch let e as SpecError {
            throw OptionError(description: "\(option): \(e.message)")
        } catch {
            throw OptionError(description: "\(option): cannot read '\(text)'")
        }
    }

    /// The run's config: run axes as given, each field as set, else its
    /// default (`defaults` first: a command's own defaults for required
    /// fields), else derived from the run.
    public func config(classes: Int, exemplars: Int, variant: Variant, seed: UInt64,
                       defaults: [String: FieldValue] = [:]) throws -> RunConfig {
        func value(_ path: String) -> FieldValue? { values[path] ?? defaults[path] ?? SpecField.byPath[path]!.defaultValue }
        for field in SpecField.all where values[field.path] != nil {
            if let (path, wanted) = field.requires, value(path)?.text != wanted {
                throw OptionError(description: "--\(field.option): applies only with --\(SpecField.byPath[path]!.option) \(wanted)")
            }
        }
        let data: DataSource = values["data.file.path"].map { .file(FeatureFile(path: $0.text, dataset: value("data.file.dataset")!.text)) }
            ?? .synthetic(SyntheticData(classes: classes, exemplars: exemplars, dim: 0, noise: 0, seed: 0))  // the rest from the table below
        guard let sequences = value("training.sequences"), let interval = value("training.eval_interval") else {
            throw OptionError(description: "--sequences and --eval-interval are required")
        }
        var c = RunConfig(data: data, classes: classes, exemplars: exemplars, variant: variant, seed: seed,
                          sequences: sequences.int, evalInterval: interval.int, evalClasses: 0, evalExemplars: 0)
        for field in SpecField.all where field.applies(to: data) {  // the source's own fields too
            if let v = value(field.path) { field.apply(&c, v) }
        }
        SpecField.applyDerived(&c) { values[$0] != nil || defaults[$0] != nil }
        return c
    }
}

extension SpecField {
    /// Fields by their command-line option.
    static let byOption = Dictionary(uniqueKeysWithValues: all.map { ($0.option, $0) })

    /// Sets every field with a derived value that `isSet` says was not set.
    static func applyDerived(_ c: inout RunConfig, isSet: (String) -> Bool) {
        for field in all where !isSet(field.path) {
            if let derive = field.derived?.value { field.apply(&c, derive(c)) }
        }
    }
}
