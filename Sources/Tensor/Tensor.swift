// A dense row-major fp32 array with a shape. Deliberately minimal: models keep activations as
// [rows, features] matrices and call the ops in Ops.swift / Attention.swift on them, so there is
// no broadcasting machinery or autograd here.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == data.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) values, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    public static func zeros(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// Allocates without zeroing; `fill` must write every element.
    public static func uninitialized(
        _ shape: [Int], fill: (UnsafeMutableBufferPointer<Float>) -> Void
    ) -> Tensor {
        let n = shape.reduce(1, *)
        let data = [Float](unsafeUninitializedCapacity: n) { buf, count in
            fill(buf)
            count = n
        }
        return Tensor(shape: shape, data: data)
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    /// Size of the last dimension; activations are treated as [count / lastDim, lastDim].
    public var lastDim: Int { shape.last ?? 1 }
    public var rows: Int { lastDim == 0 ? 0 : count / lastDim }

    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// Rows [start, start+length) of the [rows, lastDim] view.
    public func rowSlice(_ start: Int, _ length: Int) -> Tensor {
        let d = lastDim
        precondition(start >= 0 && length >= 0 && start + length <= rows)
        return Tensor(shape: [length, d], data: Array(data[(start * d)..<((start + length) * d)]))
    }

    /// One row of the [rows, lastDim] view as a plain array.
    public func row(_ i: Int) -> [Float] {
        let d = lastDim
        return Array(data[(i * d)..<((i + 1) * d)])
    }

    /// Stacks equally shaped tensors along a new leading axis.
    public static func stack(_ parts: [Tensor]) -> Tensor {
        guard let first = parts.first else { return Tensor.zeros([0]) }
        precondition(parts.allSatisfy { $0.shape == first.shape }, "stack: shapes differ")
        var data = [Float]()
        data.reserveCapacity(first.count * parts.count)
        for p in parts { data.append(contentsOf: p.data) }
        return Tensor(shape: [parts.count] + first.shape, data: data)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = data.prefix(6).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 6 ? ", …" : "")])"
    }
}

import Foundation
