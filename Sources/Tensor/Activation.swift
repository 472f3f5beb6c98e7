// The `hidden_act` values of transformers' ACT2FN that the ported models use, as PyTorch's
// vectorised CPU kernels compute them. Exact GELU is the one that matters for speed: erff per
// element costs more than the gemm before it (BLIP's MLP at 577 tokens), and PyTorch's vectorised
// GELU does not call erf either — it evaluates Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), as
// `Activation.gelu(_:)` does here, in a loop the optimiser vectorises.
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
            for i in range { p[i] = Activation.gelu(p[i]) }
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

extension Activation {
    /// x·Φ(x) with erf by Abramowitz–Stegun 7.1.26 and the vectorisable FastMath.exp.
    @inlinable @inline(__always)
    public static func gelu(_ v: Float) -> Float {
        let z = v * 0.70710678118654752
        let a = abs(z)
        let t = 1 / (1 + 0.3275911 * a)
        let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
        let e = 1 - poly * FastMath.exp(-a * a)
        let erf = z < 0 ? -e : e
        return 0.5 * v * (1 + erf)
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
