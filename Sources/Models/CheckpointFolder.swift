// How every model here opens a Hugging Face checkpoint folder (config.json and model.safetensors
// side by side, as save_pretrained writes them); the model-specific files (tokenizer, processor)
// are each model's own.
import Foundation
import Tensor

struct CheckpointFolder {
    let directory: URL

    init(_ directory: URL) { self.directory = directory }

    var configURL: URL { directory.appendingPathComponent("config.json") }
    var weightsURL: URL { directory.appendingPathComponent("model.safetensors") }

    /// Checked right after config.json, so a folder without weights fails before its tokenizer and
    /// processor files are parsed.
    func requireWeights() throws {
        guard FileManager.default.fileExists(atPath: weightsURL.path) else { throw CheckpointError.missingFile(weightsURL.path) }
    }

    /// The weights for strict loading: a model asks for each tensor by name and then calls
    /// `assertAllUsed`. The non-persistent position_ids buffers some exporters saved anyway are
    /// the one exception, because transformers ignores them too.
    func weights() throws -> WeightStore {
        let weights = try WeightStore(file: weightsURL)
        weights.ignore { $0.hasSuffix("embeddings.position_ids") }
        return weights
    }

    func modelID() throws -> String { try ModelFingerprint.modelID(directory: directory) }
}
