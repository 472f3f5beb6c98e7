// Token sequences of different lengths packed back to back, with no padding rows, and the
// self-attention over them: what BLIP's text encoder passes (ITM, ITC) and CLIP's text tower run.
// A padded batch's masks only hide padding keys (and, causally, later tokens), and a real token's
// output never depends on the padding rows, so they are simply not computed.
import Tensor

/// Token ids of several sequences packed back to back: sequence r is rows `ranges[r]`, positions from 0.
struct PackedSequences: Sendable {
    let ids: [Int]
    let ranges: [Range<Int>]

    init(_ sequences: [[Int]]) {
        ids = sequences.flatMap { $0 }
        var start = 0
        ranges = sequences.map { t in
            defer { start += t.count }
            return start..<(start + t.count)
        }
    }

    var count: Int { ranges.count }
    /// Each token's position within its own sequence (what a right-padded batch gives it).
    var positions: [Int] { ranges.flatMap { 0..<$0.count } }
    /// The row of each sequence's first token ([CLS]).
    var firstRows: [Int] { ranges.map(\.lowerBound) }

    /// The rows of consecutive sequences `sequences`.
    func rows(of sequences: Range<Int>) -> Range<Int> {
        sequences.isEmpty ? 0..<0 : ranges[sequences.lowerBound].lowerBound..<ranges[sequences.upperBound - 1].upperBound
    }
}

/// Rows `rows` of a [n, d] matrix, in that order.
func gatherRows(_ x: Tensor, _ rows: [Int]) -> Tensor {
    let d = x.lastDim
    return Tensor(shape: [rows.count, d], data: rows.flatMap { x.data[($0 * d)..<(($0 + 1) * d)] })
}

/// softmax(Q·Kᵀ/√hd)·V of packed sequences, each attending to its own tokens (causally with
/// `causal`), from a fused projection `qkv` [rows, 3·hidden] laid out [Q | K | V]; [rows, hidden],
/// heads concatenated. With `queryRows` (one row per sequence) only those rows come out,
/// [sequences, hidden]: every row still gives its key and value, but no other row's query is used.
func packedSelfAttention(_ qkv: Tensor, segments: [Range<Int>], heads: Int, causal: Bool, queryRows: [Int]? = nil) -> Tensor {
    let d = qkv.lastDim / 3, hd = d / heads
    let q = queryRows.map { gatherRows(qkv, $0) } ?? qkv
    // A single query row at position p of its sequence sees that sequence's keys 0...p when
    // causal: its own "segment" of one query against a key prefix.
    let querySegments = queryRows == nil ? segments : segments.indices.map { $0..<($0 + 1) }
    let keyCount: (Int) -> Int = { s in
        guard let queryRows, causal else { return segments[s].count }
        return queryRows[s] - segments[s].lowerBound + 1
    }
    return Tensor.uninitialized([q.rows, d]) { out in
        q.data.withUnsafeBufferPointer { qp in
            qkv.data.withUnsafeBufferPointer { kvp in
                nonisolated(unsafe) let base = kvp.baseAddress!
                Ops.attention(q: qp.baseAddress!, ldq: 3 * d, segments: querySegments, heads: heads, headDim: hd,
                              keys: { base + segments[$0].lowerBound * 3 * d + d },
                              values: { base + segments[$0].lowerBound * 3 * d + 2 * d },
                              keyCount: keyCount, ldkv: 3 * d, causal: causal && queryRows == nil,
                              out: out.baseAddress!, ldo: d)
            }
        }
    }
}
