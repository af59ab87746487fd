/// A problem with one field of a run's configuration: the field by its spec
/// path (`training.eval_interval`; a run axis by its grid name, `classes`;
/// a named run's start by its key, `graft`) and what is wrong, never text to
/// be parsed again. The spec reader puts it at the field's line; `train` at
/// the field's option.
public struct ConfigProblem: Equatable, CustomStringConvertible {
    public let field: String
    public let message: String
    public init(_ field: String, _ message: String) { self.field = field; self.message = message }
    public var description: String { "\(field): \(message)" }
}
