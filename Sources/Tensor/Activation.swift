// The `hidden_act` values of transformers' ACT2FN that the ported models use.
import Foundation

public enum Activation: String, Sendable {
    case gelu                            // exact, erf-based (torch.nn.functional.gelu)
    case quickGelu = "quick_gelu"        // x·σ(1.702x), OpenAI CLIP's approximation
    case geluTanh = "gelu_pytorch_tanh"  // tanh approximation
    case geluNew = "gelu_new"            // same formula as gelu_pytorch_tanh
    case relu

    public init(name: String) throws {
        guard let a = Activation(rawValue: name) else { throw ActivationError.unsupported(name) }
        self = a
    }

    public func apply(_ x: inout Tensor) {
        x.data.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress!
            nonisolated(unsafe) let p = base
            Parallel.forEachRange(buf.count, minPerThread: 1 << 14) { range in
                apply(p, range)
            }
        }
    }

    private func apply(_ p: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        switch self {
        case .gelu:
            for i in range { let v = p[i]; p[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) }
        case .quickGelu:
            for i in range { let v = p[i]; p[i] = v / (1 + FastMath.exp(-1.702 * v)) }
        case .geluTanh, .geluNew:
            for i in range {
                let v = p[i]
                p[i] = 0.5 * v * (1 + tanhf(0.79788456080286536 * (v + 0.044715 * v * v * v)))
            }
        case .relu:
            for i in range { p[i] = max(p[i], 0) }
        }
    }
}

public enum ActivationError: Error, CustomStringConvertible {
    case unsupported(String)
    public var description: String {
        switch self {
        case .unsupported(let n):
            return "unsupported hidden_act \"\(n)\" (supported: gelu, quick_gelu, gelu_pytorch_tanh, gelu_new, relu)"
        }
    }
}
