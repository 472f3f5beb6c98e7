// Strict, scoped weight loading in the style of candle's VarBuilder: a model asks for each tensor
// by its checkpoint name and expected shape; anything missing or misshapen fails naming the
// tensor, and after construction `assertAllUsed` fails naming every tensor nobody asked for
// (which catches a model/checkpoint mismatch that shape checks alone would miss).
import Foundation

public enum WeightError: Error, CustomStringConvertible, Equatable {
    case missing(tensor: String, file: String)
    case shapeMismatch(tensor: String, expected: [Int], actual: [Int])
    case unused(tensors: [String])
    case duplicate(tensor: String, files: [String])

    public var description: String {
        switch self {
        case let .missing(t, f): return "weight \"\(t)\" is missing from \(f)"
        case let .shapeMismatch(t, e, a): return "weight \"\(t)\" has shape \(a), expected \(e)"
        case let .unused(ts):
            let shown = ts.prefix(8).map { "\"\($0)\"" }.joined(separator: ", ")
            return "\(ts.count) checkpoint tensor(s) not used by the model: \(shown)\(ts.count > 8 ? ", …" : "")"
        case let .duplicate(t, fs): return "weight \"\(t)\" appears in several files: \(fs.joined(separator: ", "))"
        }
    }
}

/// All tensors of one checkpoint (one or more safetensors files) plus a record of which ones the
/// model consumed.
public final class WeightStore: @unchecked Sendable {
    // @unchecked: `used`/`ignored` are guarded by `lock`; the files are immutable.
    private let files: [SafeTensors]
    private let owner: [String: Int]
    private var used: Set<String> = []
    private var ignored: [@Sendable (String) -> Bool] = []
    private let lock = NSLock()

    public init(files urls: [URL]) throws {
        let opened = try urls.map { try SafeTensors(url: $0) }
        var owner: [String: Int] = [:]
        for (i, f) in opened.enumerated() {
            for name in f.tensors.keys {
                if let j = owner[name] {
                    throw WeightError.duplicate(tensor: name, files: [opened[j].fileName, f.fileName])
                }
                owner[name] = i
            }
        }
        files = opened
        self.owner = owner
    }

    public convenience init(file url: URL) throws {
        try self.init(files: [url])
    }

    public var names: [String] { owner.keys.sorted() }
    private var fileDescription: String { files.map(\.fileName).joined(separator: ", ") }

    public func root(precision: Precision = .fp32) -> VarBuilder { VarBuilder(store: self, prefix: "", precision: precision) }

    /// Tensors a checkpoint may carry that the model legitimately does not read (e.g. the
    /// non-persistent `position_ids` buffers older transformers versions saved).
    public func ignore(where predicate: @escaping @Sendable (String) -> Bool) {
        lock.withLock { ignored.append(predicate) }
    }

    public func contains(_ name: String) -> Bool { owner[name] != nil }

    public func shape(of name: String) -> [Int]? {
        owner[name].flatMap { files[$0].tensors[name]?.shape }
    }

    func load(_ name: String, shape: [Int]?) throws -> Tensor {
        try files[check(name, shape: shape)].tensor(name)
    }

    func loadWeights(_ name: String, shape: [Int]) throws -> WeightMatrix {
        try files[check(name, shape: shape)].weights(name)
    }

    /// The file holding `name` once it is there with `shape`; marks it used.
    private func check(_ name: String, shape: [Int]?) throws -> Int {
        guard let i = owner[name], let info = files[i].tensors[name] else {
            throw WeightError.missing(tensor: name, file: fileDescription)
        }
        if let shape, shape != info.shape {
            throw WeightError.shapeMismatch(tensor: name, expected: shape, actual: info.shape)
        }
        lock.withLock { _ = used.insert(name) }
        return i
    }

    public var unusedNames: [String] {
        lock.withLock {
            owner.keys.filter { n in !used.contains(n) && !ignored.contains { $0(n) } }.sorted()
        }
    }

    public func assertAllUsed() throws {
        let u = unusedNames
        if !u.isEmpty { throw WeightError.unused(tensors: u) }
    }
}

/// A view of a WeightStore under a dotted name prefix ("vision_model.encoder.layers.3").
public struct VarBuilder: Sendable {
    public let store: WeightStore
    public let prefix: String
    /// The precision `Linear` layers built from this view keep their weights in.
    public var precision: Precision = .fp32
    /// Where fp32 `Linear` layers built from this view keep their weights: read in place as stored
    /// ([out, in]), or in an [in, out] copy (Linear.WeightLayout).
    public var layout: Linear.WeightLayout = .asStored

    public init(store: WeightStore, prefix: String, precision: Precision = .fp32, layout: Linear.WeightLayout = .asStored) {
        self.store = store
        self.prefix = prefix
        self.precision = precision
        self.layout = layout
    }

    /// This view with fp32 layers' weights in `layout`; CAPFILT_FP32_LAYOUT=as-stored in the
    /// environment keeps every weight as stored (the quicker load, for A/B benchmarks).
    public func with(layout: Linear.WeightLayout) -> VarBuilder {
        VarBuilder(store: store, prefix: prefix, precision: precision, layout: Self.keepAsStored ? .asStored : layout)
    }

    static let keepAsStored = ProcessInfo.processInfo.environment["CAPFILT_FP32_LAYOUT"] == "as-stored"

    public func path(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

    public func scope(_ name: String) -> VarBuilder { VarBuilder(store: store, prefix: path(name), precision: precision, layout: layout) }
    public func scope(_ index: Int) -> VarBuilder { scope(String(index)) }

    /// The tensor `prefix.name`, which must have exactly `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        try store.load(path(name), shape: shape)
    }

    /// The fp32 matrix `prefix.name` of exactly `shape`, read in place from the checkpoint's
    /// mapping where it is stored as aligned F32 (large weights that are used as they are stored).
    public func weights(_ name: String, shape: [Int]) throws -> WeightMatrix {
        try store.loadWeights(path(name), shape: shape)
    }

    /// The tensor `prefix.name` of whatever shape the checkpoint has (for values like logit_scale
    /// whose rank differs between exporters); callers must check what they rely on.
    public func tensorAnyShape(_ name: String) throws -> Tensor {
        try store.load(path(name), shape: nil)
    }

    public func contains(_ name: String) -> Bool { store.contains(path(name)) }
}
