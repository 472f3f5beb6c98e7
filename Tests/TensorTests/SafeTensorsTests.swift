import Foundation
import Tensor
import XCTest

/// Builds safetensors files byte by byte, good and deliberately broken.
enum SafeTensorsFile {
    static func bytes(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> Data {
        let h = Array(header.utf8)
        var out = Data()
        withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: h)
        out.append(contentsOf: data)
        return out
    }

    static func write(_ data: Data, name: String = "t.safetensors") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    static func floatBytes(_ v: [Float]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }
}

final class SafeTensorsTests: XCTestCase {
    func open(_ header: String, _ data: [UInt8], declaredLength: UInt64? = nil) throws -> SafeTensors {
        try SafeTensors(url: SafeTensorsFile.write(SafeTensorsFile.bytes(header: header, data: data, declaredLength: declaredLength)))
    }

    func expectError(_ header: String, _ data: [UInt8], declaredLength: UInt64? = nil, _ check: (SafeTensorsError) -> Bool,
                     file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try open(header, data, declaredLength: declaredLength)
            XCTFail("expected an error", file: file, line: line)
        } catch let e as SafeTensorsError {
            print("rejected as expected: \(e)")
            XCTAssertTrue(check(e), "wrong error: \(e)", file: file, line: line)
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
        }
    }

    func testReadsF32F16BF16() throws {
        let f32: [Float] = [1, -2.5, 3.25, 1e-3, 65504, -0.0]
        let f16: [UInt16] = f32.map { Float16($0).bitPattern }
        let bf16: [UInt16] = [0x3F80, 0xC020, 0x4050, 0x0000]   // 1, -2.5, 3.25, 0
        var data = SafeTensorsFile.floatBytes(f32)
        data += f16.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
        data += bf16.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
        let header = """
        {"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},\
        "b":{"dtype":"F16","shape":[6],"data_offsets":[24,36]},"c":{"dtype":"BF16","shape":[2,2],"data_offsets":[36,44]}}
        """
        let st = try open(header, data)
        XCTAssertEqual(st.metadata["format"], "pt")
        XCTAssertEqual(try st.tensor("a"), Tensor(shape: [2, 3], data: f32))
        let b = try st.tensor("b")
        let diff = zip(b.data, f32).map { abs($0 - $1) / max(1, abs($1)) }.max()!
        print("F16 -> F32 max relative Δ \(diff)")
        XCTAssertLessThan(diff, 1e-3)
        XCTAssertEqual(try st.tensor("c").data, [1, -2.5, 3.25, 0])
        XCTAssertEqual(try st.tensor("c").shape, [2, 2])
        XCTAssertEqual(st.names, ["a", "b", "c"])
    }

    func testScalarTensor() throws {
        let st = try open(#"{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#, SafeTensorsFile.floatBytes([2.5]))
        XCTAssertEqual(try st.tensor("s").data, [2.5])
    }

    func testBadJSON() {
        expectError(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]"#, SafeTensorsFile.floatBytes([1])) {
            if case .invalidJSON = $0 { return true }; return false
        }
        expectError(#"[1, 2, 3]"#, []) { if case .invalidJSON = $0 { return true }; return false }
    }

    func testHeaderLongerThanFile() {
        expectError(#"{}"#, [], declaredLength: 1 << 40) { if case .headerOutOfBounds = $0 { return true }; return false }
    }

    func testTruncatedFile() throws {
        let url = try SafeTensorsFile.write(Data([1, 2, 3]))
        XCTAssertThrowsError(try SafeTensors(url: url)) { e in
            print("rejected as expected: \(e)")
            guard case SafeTensorsError.truncated = e else { return XCTFail("\(e)") }
        }
    }

    func testUnknownDType() {
        expectError(#"{"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}"#, SafeTensorsFile.floatBytes([1])) {
            if case .unknownDType(_, "a", "F31") = $0 { return true }; return false
        }
    }

    func testOffsetsOutOfBounds() {
        expectError(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, SafeTensorsFile.floatBytes([1])) {
            if case .offsetsOutOfBounds(_, "a", 0, 8, 4) = $0 { return true }; return false
        }
        expectError(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#, SafeTensorsFile.floatBytes([1, 2])) {
            if case .offsetsOutOfBounds = $0 { return true }; return false
        }
        expectError(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, SafeTensorsFile.floatBytes([1])) {
            if case .offsetsOutOfBounds = $0 { return true }; return false
        }
    }

    func testOverlap() {
        let h = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        expectError(h, SafeTensorsFile.floatBytes([1, 2, 3])) {
            if case .overlap(_, "a", "b") = $0 { return true }; return false
        }
    }

    func testShapeSizeMismatch() {
        expectError(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, SafeTensorsFile.floatBytes([1, 2])) {
            if case .sizeMismatch(_, "w", [3], "F32", 12, 8) = $0 { return true }; return false
        }
        // A product of dimensions that overflows must not wrap around to a plausible size.
        expectError(#"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#, []) {
            if case .sizeMismatch = $0 { return true }; return false
        }
    }

    func testMalformedEntries() {
        for header in [#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#,
                       #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#,
                       #"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#,
                       #"{"a":{"shape":[1],"data_offsets":[0,4]}}"#,
                       #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                       #"{"a":[1,2]}"#] {
            expectError(header, SafeTensorsFile.floatBytes([1])) { if case .invalidEntry(_, "a", _) = $0 { return true }; return false }
        }
    }

    func testUnsupportedDTypeFailsOnLoadNotOnOpen() throws {
        let st = try open(#"{"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8))
        XCTAssertThrowsError(try st.tensor("i")) { e in
            guard case SafeTensorsError.unsupportedDType(_, "i", "I64") = e else { return XCTFail("\(e)") }
        }
    }
}

final class VarBuilderTests: XCTestCase {
    func store() throws -> WeightStore {
        let header = """
        {"enc.layer.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},\
        "enc.layer.bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},\
        "extra":{"dtype":"F32","shape":[1],"data_offsets":[24,28]}}
        """
        let url = try SafeTensorsFile.write(SafeTensorsFile.bytes(header: header, data: SafeTensorsFile.floatBytes([1, 2, 3, 4, 5, 6, 7])))
        return try WeightStore(file: url)
    }

    func testScopedLoadAndUnused() throws {
        let s = try store()
        let lin = try Linear(s.root().scope("enc").scope("layer"), inFeatures: 2, outFeatures: 2)
        XCTAssertEqual(lin.weight.data, [1, 2, 3, 4])
        XCTAssertEqual(lin.bias?.data, [5, 6])
        XCTAssertThrowsError(try s.assertAllUsed()) { e in
            print("rejected as expected: \(e)")
            XCTAssertEqual(e as? WeightError, .unused(tensors: ["extra"]))
        }
        s.ignore { $0 == "extra" }
        XCTAssertNoThrow(try s.assertAllUsed())
    }

    /// Aligned F32 weights are read in place from the file's mapping, which outlives the store;
    /// other dtypes and unaligned F32 data come as converted copies, with the same values.
    func testFP32WeightsAreReadInPlaceFromTheMapping() throws {
        var header = """
        {"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"h":{"dtype":"F16","shape":[1],"data_offsets":[24,26]},\
        "odd":{"dtype":"F32","shape":[2],"data_offsets":[26,34]}}
        """
        while (8 + header.utf8.count) % 8 != 0 { header += " " }
        let half = withUnsafeBytes(of: Float16(1.5).bitPattern.littleEndian, Array.init)
        let data = SafeTensorsFile.floatBytes([1, 2, 3, 4, 5, 6]) + half + SafeTensorsFile.floatBytes([7, 8])
        var store: WeightStore? = try WeightStore(file: SafeTensorsFile.write(SafeTensorsFile.bytes(header: header, data: data)))
        let vb = store!.root()
        let w = try vb.weights("w", shape: [2, 3])
        XCTAssertTrue(w.isMapped)
        let h = try vb.weights("h", shape: [1]), odd = try vb.weights("odd", shape: [2])
        XCTAssertFalse(h.isMapped)
        XCTAssertFalse(odd.isMapped)
        XCTAssertEqual(h.tensor.data, [1.5])
        XCTAssertEqual(odd.tensor.data, [7, 8])
        XCTAssertThrowsError(try vb.weights("w", shape: [3, 2])) { e in
            XCTAssertEqual(e as? WeightError, .shapeMismatch(tensor: "w", expected: [3, 2], actual: [2, 3]))
        }
        let mapped = Linear(weight: w, bias: nil)
        store = nil
        let x = Tensor(shape: [2, 3], data: [1, 0, -1, 0.5, 2, 0])
        let copied = Linear(weight: Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]), bias: nil)
        XCTAssertEqual(mapped(x).data, copied(x).data)
        XCTAssertEqual(mapped.decodingStep(x).data, copied.decodingStep(x).data)
        XCTAssertEqual(w.tensor.data, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(w.reshaped([3, 2]).tensor.shape, [3, 2])
        XCTAssertEqual(Ops.embedding([1, 0], table: w).data, [4, 5, 6, 1, 2, 3])
    }

    /// bf16 layers round straight from the mapping and fused q/k/v stack straight from it (no fp32
    /// copy on the way), then drop the file pages: the layers compute what layers built from the
    /// same values in hand compute, and the mapped weights still read back after the drop.
    func testBF16AndStackedLayersLoadStraightFromTheMapping() throws {
        let names = ["q", "k", "v"]
        var header = "{", data: [UInt8] = [], values: [String: [Float]] = [:]
        var g = SplitMix64(seed: 9)
        for n in names {
            // 2 × 1100 floats: the weight spans whole pages, so dropping them is exercised.
            let w = (0..<2200).map { _ in Float(g.nextDouble() * 2 - 1) }, b = [Float(g.nextDouble() * 2 - 1), Float(g.nextDouble() * 2 - 1)]
            values[n + ".weight"] = w; values[n + ".bias"] = b
            header += "\"\(n).weight\":{\"dtype\":\"F32\",\"shape\":[2,1100],\"data_offsets\":[\(data.count),\(data.count + 8800)]},"
            data += SafeTensorsFile.floatBytes(w)
            header += "\"\(n).bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\(data.count),\(data.count + 8)]},"
            data += SafeTensorsFile.floatBytes(b)
        }
        header.removeLast()
        header += "}"
        while (8 + header.utf8.count) % 8 != 0 { header += " " }
        let store = try WeightStore(file: SafeTensorsFile.write(SafeTensorsFile.bytes(header: header, data: data)))
        let x = Tensor(shape: [3, 1100], data: (0..<3300).map { _ in Float(g.nextDouble() * 2 - 1) })
        for precision in [Precision.fp32, .bf16] {
            let vb = store.root(precision: precision)
            let stacked = try Linear(stacking: names.map(vb.scope), inFeatures: 1100, outFeatures: 2, precision: precision)
            let inHand = try Linear(weight: Tensor(shape: [6, 1100], data: names.flatMap { values[$0 + ".weight"]! }),
                                    bias: Tensor(shape: [6], data: names.flatMap { values[$0 + ".bias"]! }), precision: precision)
            XCTAssertEqual(stacked.precision, precision)
            XCTAssertEqual(stacked(x).data, inHand(x).data, "\(precision) stacked")
            let q = try Linear(vb.scope("q"), inFeatures: 1100, outFeatures: 2)
            let qInHand = try Linear(weight: Tensor(shape: [2, 1100], data: values["q.weight"]!),
                                     bias: Tensor(shape: [2], data: values["q.bias"]!), precision: precision)
            XCTAssertEqual(q.precision, precision)
            XCTAssertEqual(q(x).data, qInHand(x).data, "\(precision) single")
            XCTAssertEqual(try vb.weights("k.weight", shape: [2, 1100]).tensor.data, values["k.weight"]!)
        }
        // The encoders' [in, out] copies, stacked and single, hold the checkpoint's values (their
        // products against the stored layout are KernelTests' business).
        let inOut = VarBuilder(store: store, prefix: "", layout: .inOut)
        let stacked = try Linear(stacking: names.map(inOut.scope), inFeatures: 1100, outFeatures: 2, precision: .fp32)
        XCTAssertEqual(stacked.layout, .inOut)
        XCTAssertEqual(stacked.weight.data, names.flatMap { values[$0 + ".weight"]! })
        XCTAssertEqual(stacked.bias?.data, names.flatMap { values[$0 + ".bias"]! })
        let v = try Linear(inOut.scope("v"), inFeatures: 1100, outFeatures: 2)
        XCTAssertEqual(v.layout, .inOut)
        XCTAssertEqual(v.weight.data, values["v.weight"]!)
        XCTAssertEqual(try Linear(VarBuilder(store: store, prefix: "v", precision: .bf16, layout: .inOut), inFeatures: 1100, outFeatures: 2).layout,
                       .asStored, "bf16 layers keep their own layout")
    }

    func testMissingAndWrongShapeNameTheTensor() throws {
        let s = try store()
        XCTAssertThrowsError(try Linear(s.root().scope("enc").scope("other"), inFeatures: 2, outFeatures: 2)) { e in
            print("rejected as expected: \(e)")
            guard case WeightError.missing("enc.other.weight", _) = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try Linear(s.root().scope("enc.layer"), inFeatures: 1, outFeatures: 4)) { e in
            print("rejected as expected: \(e)")
            XCTAssertEqual(e as? WeightError, .shapeMismatch(tensor: "enc.layer.weight", expected: [4, 1], actual: [2, 2]))
        }
    }
}
