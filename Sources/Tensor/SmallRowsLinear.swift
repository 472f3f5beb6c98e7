// nn.Linear for the rows of a decoding step (a batch's beams or samples, a prompt's prefill) in
// BLIP's decoder. One kernel whatever the row count, whose every output is the same sequence of
// operations however many rows come with it (CKernels/RowsLinear.c): a frame's captions are the
// same, to the bit, alone or batched with other frames, so inputs can share the captioner's batch
// (Pipeline/Executor.swift) and a rerun still writes what a fresh run writes. Where the CPU lacks
// AVX-512 (none of our hosts), Ops.linear's Swift streaming kernel, which has the same property.
//
// Before, the kernel was picked by row count: the Swift streaming kernel up to 4 rows, OpenBLAS's
// small-matrix sgemm in column blocks above (and oneDNN above 4 rows in bf16), so the bits of a row
// depended on its neighbours. The AVX-512 kernel keeps four weight rows in L1 while every block of
// up to six input rows is multiplied into them, so the weights come from memory once per step at
// any row count.
import CKernels

extension Ops {
    /// The work of one column block of sgemm on the calling thread, and the size above which
    /// attention's `callerGEMM` takes oneDNN: OpenBLAS 0.3.21's threading threshold (65536 × 4 in
    /// Debian's build), under which its small-matrix kernels read the operands in place.
    public static let blasSingleThreadWork = 65536 * 4

    /// Whether this CPU runs CKernels' fp32 rows kernel.
    public static let hasAVX512 = capfilt_has_avx512f() != 0

    public static func decodingLinear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        decodingLinear(x, weight: WeightMatrix(weight), bias: bias)
    }

    /// nn.Linear (up to summation order) for a decoding step's rows, any count; each output's bits
    /// depend only on its own row, the weights and the CPU.
    public static func decodingLinear(_ x: Tensor, weight: WeightMatrix, bias: Tensor?) -> Tensor {
        precondition(weight.rank == 2, "linear: weight must be 2-D, got \(weight.shape)")
        let n = weight.rows, k = weight.columns, m = x.rows
        precondition(x.lastDim == k, "linear: input features \(x.lastDim) != weight in \(k)")
        precondition(bias.map { $0.count == n } ?? true, "linear: bias has \(bias?.count ?? 0) values, expected \(n)")
        var shape = x.shape
        shape[shape.count - 1] = n
        guard hasAVX512 else { return streamingLinear(x, weight: weight, bias: bias, shape: shape) }
        return Tensor.uninitialized(shape) { y in
            guard m > 0 else { return }
            x.data.withUnsafeBufferPointer { xp in
                weight.withUnsafeFloats { wp in
                    nonisolated(unsafe) let (xs, ws, ys) = (xp.baseAddress!, wp, y.baseAddress!)
                    splitOutputs(n, bias: bias) { j0, j1, bs in capfilt_f32_linear_rows(xs, Int32(m), Int32(k), ws, j0, j1, ys, Int32(n), bs) }
                }
            }
        }
    }

    /// Calls a rows kernel for the output features [j0, j1) each thread takes, with the bias's
    /// values or nil. Any split gives the same bits (each output's operations are its own).
    private static func splitOutputs(_ n: Int, bias: Tensor?, _ kernel: (Int32, Int32, UnsafePointer<Float>?) -> Void) {
        withoutActuallyEscaping(kernel) { kernel in
            nonisolated(unsafe) let kernel = kernel
            let run = { (bp: UnsafePointer<Float>?) in
                nonisolated(unsafe) let bs = bp
                Parallel.forEachRange(n, minPerThread: 64) { kernel(Int32($0.lowerBound), Int32($0.upperBound), bs) }
            }
            if let bias { bias.data.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
        }
    }
}

extension Ops {
    /// Whether this CPU runs `bf16RowsLinear` (the instruction oneDNN's bf16 products need too).
    public static let hasBF16DotProduct = OneDNN.nativeBF16

    /// nn.Linear in bf16 for a decoding step's rows, as OneDNN.linear computes it (x rounded to
    /// bf16, products of bf16 values exact in fp32, fp32 sums, bias added in fp32) up to summation
    /// order, through CKernels' AVX512-BF16 kernel: the weights stream from memory once, 32 values
    /// per load, each load multiplied into the sums of every row. Output features are split over
    /// threads; each output's operations do not depend on the split or the rows that come with it.
    /// Call only where `hasBF16DotProduct`.
    public static func bf16RowsLinear(_ x: Tensor, weight: BF16Matrix, bias: Tensor?) -> Tensor {
        let m = x.rows, n = weight.rows, k = weight.columns
        precondition(hasBF16DotProduct, "bf16RowsLinear needs AVX512-BF16")
        precondition(x.lastDim == k, "linear: input features \(x.lastDim) != weight in \(k)")
        precondition(bias.map { $0.count == n } ?? true, "linear: bias has \(bias?.count ?? 0) values, expected \(n)")
        var shape = x.shape
        shape[shape.count - 1] = n
        var rounded = [UInt16](repeating: 0, count: x.count)
        BF16.round(x.data, into: &rounded)
        return Tensor.uninitialized(shape) { y in
            guard m > 0 else { return }
            rounded.withUnsafeBufferPointer { xp in
                weight.withUnsafePointer { wp in
                    nonisolated(unsafe) let (xs, ws, ys) = (xp.baseAddress!, wp, y.baseAddress!)
                    splitOutputs(n, bias: bias) { j0, j1, bs in capfilt_bf16_linear_rows(xs, Int32(m), Int32(k), ws, j0, j1, ys, Int32(n), bs) }
                }
            }
        }
    }
}
