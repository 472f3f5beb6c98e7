// The only file that calls oneDNN (Debian's libdnnl 2.6): bf16 matrix products for `precision: bf16`,
// and fp32 sgemm on one thread (Ops.productOnThisThread, attention's bigger products, CLIP's [in, out]
// layers).
// OpenBLAS 0.3.21 has no sbgemm; oneDNN's bf16 gemm uses AVX512_BF16's dot-product instruction, about
// 2.5× fp32 sgemm's rate at the models' shapes on these hosts (see `capfilt-bench ops`).
//
// One matmul primitive per (in, out, bias) shape, with the row count left to run time, so a layer's
// primitive serves every batch size and the weights stay in one plain layout ([out, in] bf16, as
// nn.Linear's weight). Primitives use a user-managed scratchpad (oneDNN reports none for these), so
// several threads may run one primitive at once.
//
// Threads: Debian's oneDNN runs on OpenMP, whose idle workers spin (OMP_WAIT_POLICY is read once, at
// load) and took the cores from the layer norms, attention and GELU between products: a vision pass
// ran at 0.62/s against 1.1/s with OMP_WAIT_POLICY=passive. So oneDNN gets one thread per call and
// the product is split here instead, over `Parallel`'s threads: by rows when there are many, by
// output columns (each part its own primitive, writing a strided block of y) when there are few.
import COneDNN
import Foundation
import Synchronization

/// A oneDNN call that failed, with the call and oneDNN's status name.
public struct OneDNNError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let status: String

    public var description: String { "oneDNN \(call) failed: \(status)" }
}

public enum OneDNN {
    @inline(__always)
    static func check(_ status: dnnl_status_t, _ call: @autoclosure () -> String) throws {
        guard status != dnnl_success else { return }
        throw OneDNNError(call: call(), status: String(cString: dnnl_status2str(status)))
    }

    /// The CPU ISA oneDNN dispatches to here, e.g. "avx512_core_bf16"; bf16 products are native
    /// only from avx512_core_bf16 on (older AVX-512 hosts emulate them, slower than fp32).
    public static var isa: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx2: return "avx2"
        case let other: return "isa 0x\(String(other.rawValue, radix: 16))"
        }
    }

    /// True where bf16 products run on native instructions.
    public static var nativeBF16: Bool {
        let isa = dnnl_get_effective_cpu_isa()
        return isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx
    }

    /// Owns the CPU engine; oneDNN engines may be shared between threads.
    final class Engine: @unchecked Sendable {
        let handle: dnnl_engine_t
        init() throws {
            var e: dnnl_engine_t?
            try check(dnnl_engine_create(&e, dnnl_cpu, 0), "dnnl_engine_create")
            handle = e!
        }
        deinit { dnnl_engine_destroy(handle) }
    }

    /// A stream per call: streams are not thread-safe, and creating one on the CPU costs microseconds.
    final class Stream {
        let handle: dnnl_stream_t
        init(_ engine: Engine) throws {
            var s: dnnl_stream_t?
            try check(dnnl_stream_create(&s, engine.handle, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
            handle = s!
        }
        deinit { dnnl_stream_destroy(handle) }
    }

    /// A memory object over a caller's buffer (no copy); valid while that buffer is.
    final class Memory {
        let handle: dnnl_memory_t
        init(_ desc: inout dnnl_memory_desc_t, _ engine: Engine, _ pointer: UnsafeMutableRawPointer) throws {
            var m: dnnl_memory_t?
            try check(dnnl_memory_create(&m, &desc, engine.handle, pointer), "dnnl_memory_create")
            handle = m!
        }
        deinit { dnnl_memory_destroy(handle) }
    }

    /// A row-major 2-D descriptor; `transposed` describes an [cols, rows] buffer read as [rows, cols],
    /// `rowStride` rows that lie further apart than `cols` (a column block of a wider matrix).
    static func desc(_ rows: Int64, _ cols: Int64, _ type: dnnl_data_type_t, transposed: Bool = false,
                     rowStride: Int? = nil) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        var dims: dnnl_dims_t = (rows, cols, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var strides: dnnl_dims_t = (Int64(rowStride ?? 0), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        try withUnsafePointer(to: &dims) { d in
            try withUnsafePointer(to: &strides) { st in
                let dp = UnsafeRawPointer(d).assumingMemoryBound(to: Int64.self)
                let sp = UnsafeRawPointer(st).assumingMemoryBound(to: Int64.self)
                if rowStride != nil {
                    try check(dnnl_memory_desc_init_by_strides(&md, 2, dp, type, sp), "dnnl_memory_desc_init_by_strides [\(rows), \(cols)]")
                } else {
                    try check(dnnl_memory_desc_init_by_tag(&md, 2, dp, type, transposed ? dnnl_ba : dnnl_ab),
                              "dnnl_memory_desc_init_by_tag [\(rows), \(cols)]")
                }
            }
        }
        return md
    }

    /// y[m, n] = x[m, k] · Wᵀ + b with x and W in bf16, b and y in fp32; m and y's row stride are
    /// given at execution.
    final class Matmul: @unchecked Sendable {
        let primitive: dnnl_primitive_t
        let descriptor: dnnl_primitive_desc_t
        let k: Int, n: Int, hasBias: Bool
        let scratchpadBytes: Int
        /// oneDNN's name for the kernel it chose (e.g. "gemm:jit").
        let implementation: String

        init(engine: Engine, k: Int, n: Int, bias: Bool) throws {
            self.k = k; self.n = n; hasBias = bias
            let m = capfilt_dnnl_runtime_dim
            var src = try desc(m, Int64(k), dnnl_bf16)
            var wei = try desc(Int64(k), Int64(n), dnnl_bf16, transposed: true)
            var dst = try desc(m, Int64(n), dnnl_f32)
            var b = try desc(1, Int64(n), dnnl_f32)
            var op = dnnl_matmul_desc_t()
            if bias {
                try check(dnnl_matmul_desc_init(&op, &src, &wei, &b, &dst), "dnnl_matmul_desc_init k=\(k) n=\(n)")
            } else {
                try check(dnnl_matmul_desc_init(&op, &src, &wei, nil, &dst), "dnnl_matmul_desc_init k=\(k) n=\(n)")
            }
            var attr: dnnl_primitive_attr_t?
            try check(dnnl_primitive_attr_create(&attr), "dnnl_primitive_attr_create")
            defer { dnnl_primitive_attr_destroy(attr) }
            try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "dnnl_primitive_attr_set_scratchpad_mode")
            var pd: dnnl_primitive_desc_t?
            try check(dnnl_primitive_desc_create(&pd, &op, attr, engine.handle, nil), "dnnl_primitive_desc_create (bf16 matmul k=\(k) n=\(n))")
            var p: dnnl_primitive_t?
            do {
                try check(dnnl_primitive_create(&p, pd), "dnnl_primitive_create (bf16 matmul k=\(k) n=\(n))")
            } catch {
                dnnl_primitive_desc_destroy(pd)
                throw error
            }
            descriptor = pd!
            primitive = p!
            let scratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)
            scratchpadBytes = scratch.map { Int(dnnl_memory_desc_get_size($0)) } ?? 0
            var name: UnsafePointer<CChar>?
            dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name)
            implementation = name.map { String(cString: $0) } ?? "?"
        }

        deinit {
            dnnl_primitive_destroy(primitive)
            dnnl_primitive_desc_destroy(descriptor)
        }

        /// Runs on the calling thread alone. `y` holds m rows `ldy` floats apart.
        func run(engine: Engine, m: Int, x: UnsafeMutablePointer<UInt16>, w: UnsafeMutablePointer<UInt16>,
                 bias: UnsafeMutablePointer<Float>?, y: UnsafeMutablePointer<Float>, ldy: Int) throws {
            var srcD = try desc(Int64(m), Int64(k), dnnl_bf16)
            var weiD = try desc(Int64(k), Int64(n), dnnl_bf16, transposed: true)
            var dstD = try desc(Int64(m), Int64(n), dnnl_f32, rowStride: ldy)
            let src = try Memory(&srcD, engine, x), wei = try Memory(&weiD, engine, w), dst = try Memory(&dstD, engine, y)
            var args = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: src.handle),
                        dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: wei.handle),
                        dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: dst.handle)]
            var keep = [src, wei, dst]
            if let bias {
                var bD = try desc(1, Int64(n), dnnl_f32)
                let b = try Memory(&bD, engine, bias)
                args.append(dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: b.handle))
                keep.append(b)
            }
            var scratch: UnsafeMutableRawPointer?
            if scratchpadBytes > 0 {
                scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchpadBytes, alignment: 64)
                var sD = dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0)!.pointee
                let s = try Memory(&sD, engine, scratch!)
                args.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: s.handle))
                keep.append(s)
            }
            defer { scratch?.deallocate() }
            let stream = try Stream(engine)
            _ = capfilt_omp_set_num_threads(1)
            try check(dnnl_primitive_execute(primitive, stream.handle, Int32(args.count), &args), "dnnl_primitive_execute (bf16 matmul \(m)×\(k)·\(k)×\(n))")
            try check(dnnl_stream_wait(stream.handle), "dnnl_stream_wait")
            withExtendedLifetime(keep) {}
        }
    }

    private struct ShapeKey: Hashable { let k: Int, n: Int, bias: Bool }
    private static let state = Mutex<(engine: Engine?, matmuls: [ShapeKey: Matmul])>((nil, [:]))

    /// The engine and this shape's primitive, made on first use and kept for the process.
    static func matmul(k: Int, n: Int, bias: Bool) throws -> (Engine, Matmul) {
        try state.withLock { s in
            let engine = try s.engine ?? Engine()
            s.engine = engine
            let key = ShapeKey(k: k, n: n, bias: bias)
            if let m = s.matmuls[key] { return (engine, m) }
            let m = try Matmul(engine: engine, k: k, n: n, bias: bias)
            s.matmuls[key] = m
            return (engine, m)
        }
    }

    /// The kernel oneDNN picks for a bf16 product of this shape (for benchmarks and errors).
    public static func implementation(inFeatures k: Int, outFeatures n: Int) throws -> String {
        try matmul(k: k, n: n, bias: true).1.implementation
    }

    /// Row-major fp32 C = alpha·op(A)·op(B) + beta·C on the calling thread alone (oneDNN's sgemm with
    /// a team of one), for callers that already run one product per thread (attention heads).
    public static func sgemmOnThisThread(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        _ = capfilt_omp_set_num_threads(1)
        let status = dnnl_sgemm(CChar(UInt8(ascii: transA ? "T" : "N")), CChar(UInt8(ascii: transB ? "T" : "N")),
                                Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
        // Only bad arguments fail here, and the callers pass shapes they computed themselves.
        precondition(status == dnnl_success, "dnnl_sgemm \(m)×\(k)·\(k)×\(n): \(String(cString: dnnl_status2str(status)))")
    }

    /// Rows per thread at or above which a product is split by rows; below, by output columns.
    static let rowsPerThreadForRowSplit = 16

    /// How `linear` splits an m×n product over `threads`: row ranges × column ranges.
    public static func parts(m: Int, n: Int, threads: Int) -> [(rows: Range<Int>, cols: Range<Int>)] {
        let t = max(1, threads)
        if t == 1 { return [(0..<m, 0..<n)] }
        if m >= rowsPerThreadForRowSplit * t {
            return (0..<t).map { i in (m * i / t ..< m * (i + 1) / t, 0..<n) }
        }
        // Column blocks of a multiple of 64, so the blocks of every layer share a few primitives.
        let block = max(64, (n + t - 1) / t + 63) / 64 * 64
        return stride(from: 0, to: n, by: block).map { c in (0..<m, c ..< min(n, c + block)) }
    }

    /// nn.Linear in bf16: x rounded to bf16 (as torch's autocast does), W already bf16, products
    /// accumulated in fp32, bias added in fp32.
    static func linear(_ x: Tensor, weight: BF16Matrix, bias: Tensor?, shape: [Int]) throws -> Tensor {
        let m = x.rows, k = weight.columns, n = weight.rows
        var xb = [UInt16](repeating: 0, count: m * k)
        BF16.round(x.data, into: &xb)
        let plan = parts(m: m, n: n, threads: BLAS.threads)
        // oneDNN 2.6's bias with a strided destination (a column block) lands on the wrong rows
        // (BF16Tests found it): column blocks get theirs added here after the product.
        let fusedBias = bias != nil && plan.allSatisfy { $0.cols.count == n }
        let matmuls = try plan.map { try matmul(k: k, n: $0.cols.count, bias: fusedBias) }
        let failure = Mutex<Error?>(nil)
        let y = Tensor.uninitialized(shape) { yp in
            xb.withUnsafeMutableBufferPointer { xp in
                weight.withUnsafePointer { wp in
                    func run(_ b: UnsafePointer<Float>?) {
                        // oneDNN only reads the weights and the bias; its memory handles are just not const.
                        nonisolated(unsafe) let (xs, ws, ys) = (xp.baseAddress!, UnsafeMutablePointer(mutating: wp), yp.baseAddress!)
                        nonisolated(unsafe) let bs = b.map { UnsafeMutablePointer(mutating: $0) }
                        Parallel.forEachRange(plan.count, minPerThread: 1) { range in
                            for i in range {
                                let (rows, cols) = plan[i]
                                let (engine, mm) = matmuls[i]
                                do {
                                    try mm.run(engine: engine, m: rows.count, x: xs + rows.lowerBound * k,
                                               w: ws + cols.lowerBound * k, bias: fusedBias ? bs : nil,
                                               y: ys + rows.lowerBound * n + cols.lowerBound, ldy: n)
                                    if let bs, !fusedBias {
                                        for r in rows {
                                            let yr = ys + r * n
                                            for c in cols { yr[c] += bs[c] }
                                        }
                                    }
                                } catch {
                                    failure.withLock { $0 = $0 ?? error }
                                }
                            }
                        }
                    }
                    if let bias { bias.data.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
                }
            }
            if failure.withLock({ $0 != nil }) { yp.initialize(repeating: .nan) }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return y
    }
}
