import Foundation

/// The spec reference, generated from the field table (`SpecField.all`,
/// `RunAxis`): `iclsweep fields` prints it, `docs/spec.md` holds it, and a
/// test fails when the two differ.
public enum SpecReference {
    /// The whole reference, as Markdown.
    public static func markdown() -> String {
        var lines = [
            "# Spec reference",
            "",
            "Generated from the program's field table by `iclsweep fields > docs/spec.md`; a test fails when this page",
            "and the table differ. Every field below can be given three ways:",
            "",
            "- in its section of a sweep spec (`training: {learning_rate: 3.0e-4}`);",
            "- as a grid axis by its path, when it has a run-name tag (`grid: {training.learning_rate: [1.0e-4, 3.0e-4]}`;",
            "  swept runs are named `...-lr0.0001`);",
            "- to `iclsweep train` (and, for the run's own fields, `bench`) as `--OPTION VALUE` or `--set PATH=VALUE`.",
            "",
            "Values are read alike everywhere: `1_000` and `2e7` are whole numbers when whole; numbers are compared by value.",
            "A field without a default is required in a spec (`train` supplies its own: 64,000 sequences, an evaluation",
            "every 16,000), or derived from the run as its default column says.",
            "",
            "## The run's grid point",
            "",
            "Every grid has these four axes (`grid:`); a single value may be given as a list of one.",
            "",
            "| grid axis | accepts | default | name part | `train` option | description |",
            "|---|---|---|---|---|---|",
        ]
        for axis in RunAxis.allCases {
            lines.append("| `\(axis.rawValue)` | \(describe(axis.kind)) | \(axis.defaultText) | `\(axis.tagText)` | `--\(axis.option)` | \(axis.help) |")
        }
        var section = ""
        for field in SpecField.all {
            if field.section != section {
                section = field.section
                lines += ["", "## `\(section)`", "", "| field | accepts | default | tag | `train` option | description |", "|---|---|---|---|---|---|"]
            }
            lines.append("| `\(field.path)` | \(describe(field.kind)) | \(defaultText(field)) | "
                         + "\(field.tag.map { $0.isEmpty ? "(the value)" : "`\($0)`" } ?? "not sweepable") | `--\(field.option)` | "
                         + "\(field.help)\(field.requires.map { " Needs `\($0.path): \($0.value)`." } ?? "") |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The run's field options for `train --help`: one line each.
    public static func options(defaults: [String: FieldValue]) -> String {
        SpecField.all.map { f in
            let value = defaults[f.path].map { "\($0)" } ?? f.defaultValue.map { "\($0)" } ?? f.derived?.text
                ?? (f.path == "data.file.path" ? "none: synthetic data" : f.path.hasPrefix("data.synthetic.") ? "--\(f.key)" : "required")
            return "  --\(f.option) (\(f.path), \(value)): \(f.help)"
        }.joined(separator: "\n") + "\n  --set PATH=VALUE: any field by its spec path."
    }

    /// The command-line option of a field or run axis, by spec path or axis name.
    public static func option(for path: String) -> String? {
        if let axis = RunAxis.allCases.first(where: { $0.rawValue == path || $0.option == path }) { return axis.option }
        return SpecField.byPath[path]?.option
    }

    static func describe(_ kind: FieldKind) -> String {
        switch kind {
        case .count(let min): return "whole number >= \(min)"
        case .number(let min, let exclusive): return "number \(exclusive ? ">" : ">=") \(FieldValue.double(min))"
        case .seed: return "seed (whole number >= 0)"
        case .choice(let words): return words.map { "`\($0)`" }.joined(separator: ", ")
        case .text: return "text"
        }
    }

    static func defaultText(_ f: SpecField) -> String {
        if let d = f.defaultValue { return "`\(d)`" }
        if let d = f.derived { return d.text }
        return "required"
    }
}

extension RunAxis {
    var option: String { self == .variants ? "variant" : self == .seeds ? "seed" : rawValue }
    var tagText: String { ["classes": "K64", "exemplars": "E20", "variants": "bursty", "seeds": "s0"][rawValue]! }
    var defaultText: String {
        switch self {
        case .classes: return "the data's classes"
        case .exemplars: return "the data's exemplars"
        case .variants: return "`bursty`"
        case .seeds: return "`0`"
        }
    }
    var help: String {
        switch self {
        case .classes: return "Training classes K: the first K of the data."
        case .exemplars: return "Exemplars per class E: the first E of each class."
        case .variants: return "Data variant: bursty (the paper's training data), matched, icl_only, ciwl_only."
        case .seeds: return "The run's seed: of the initialisation and the training sequences unless `training.init_seed`, `training.data_seed`."
        }
    }
}
