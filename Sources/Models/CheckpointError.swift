/// A checkpoint folder that cannot be used as it is: a missing file, or a config, tokenizer or
/// preprocessor file that says something the model cannot honour. Shared by every model
/// (`CLIPError` and `BLIPError` name it too).
public enum CheckpointError: Error, CustomStringConvertible {
    case missingFile(String)
    case invalidConfig(file: String, detail: String)
    case invalidTokenizer(file: String, detail: String)
    case invalidPreprocessor(file: String, detail: String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .missingFile(let p): return "missing file \(p)"
        case let .invalidConfig(f, d): return "\(f): \(d)"
        case let .invalidTokenizer(f, d): return "\(f): \(d)"
        case let .invalidPreprocessor(f, d): return "\(f): \(d)"
        case .invalidInput(let d): return d
        }
    }
}
