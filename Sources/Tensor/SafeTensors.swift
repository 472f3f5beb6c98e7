// Reader for the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw
// little-endian tensor bytes. The file is memory-mapped and validated up front, so a corrupt or
// hostile file yields a SafeTensorsError naming the problem instead of an out-of-bounds read.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum DType: String, Sendable, CaseIterable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL
    case F8_E4M3, F8_E5M2

    public var byteSize: Int {
        switch self {
        case .F64, .I64, .U64: return 8
        case .F32, .I32, .U32: return 4
        case .F16, .BF16, .I16, .U16: return 2
        case .I8, .U8, .BOOL, .F8_E4M3, .F8_E5M2: return 1
        }
    }
}

public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range relative to the start of the data section.
    public let begin: Int
    public let end: Int
}

public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(file: String, reason: String)
    case truncated(file: String, size: Int)
    case headerOutOfBounds(file: String, headerLength: UInt64, fileSize: Int)
    case invalidJSON(file: String, detail: String)
    case invalidEntry(file: String, tensor: String, reason: String)
    case unknownDType(file: String, tensor: String, dtype: String)
    case offsetsOutOfBounds(file: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    case overlap(file: String, first: String, second: String)
    case sizeMismatch(file: String, tensor: String, shape: [Int], dtype: String, expected: Int, actual: Int)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case noSuchTensor(file: String, tensor: String)

    public var description: String {
        switch self {
        case let .cannotOpen(f, r): return "\(f): cannot open: \(r)"
        case let .truncated(f, s): return "\(f): file of \(s) bytes is too small to hold a safetensors header"
        case let .headerOutOfBounds(f, l, s):
            return "\(f): header length \(l) exceeds the file size \(s) minus 8 bytes"
        case let .invalidJSON(f, d): return "\(f): header is not valid JSON: \(d)"
        case let .invalidEntry(f, t, r): return "\(f): tensor \"\(t)\": \(r)"
        case let .unknownDType(f, t, d): return "\(f): tensor \"\(t)\": unknown dtype \"\(d)\""
        case let .offsetsOutOfBounds(f, t, b, e, n):
            return "\(f): tensor \"\(t)\": data_offsets [\(b), \(e)] out of bounds of the \(n)-byte data section"
        case let .overlap(f, a, b): return "\(f): tensors \"\(a)\" and \"\(b)\" have overlapping data_offsets"
        case let .sizeMismatch(f, t, shape, d, e, a):
            return "\(f): tensor \"\(t)\": shape \(shape) of \(d) needs \(e) bytes but data_offsets span \(a)"
        case let .unsupportedDType(f, t, d):
            return "\(f): tensor \"\(t)\": dtype \(d) cannot be loaded as fp32 (only F32, F16, BF16)"
        case let .noSuchTensor(f, t): return "\(f): no tensor named \"\(t)\""
        }
    }
}

public final class SafeTensors: Sendable {
    public let fileName: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    public let headerLength: Int
    public let fileSize: Int
    /// nonisolated(unsafe): the mapping is PROT_READ, never written, and unmapped only in deinit,
    /// so threads may read it concurrently.
    nonisolated(unsafe) private let map: UnsafeMutableRawPointer?
    private let dataStart: Int

    /// Names in data order, which is the order the writer laid them out in.
    public var names: [String] { tensors.values.sorted { ($0.begin, $0.name) < ($1.begin, $1.name) }.map(\.name) }

    public init(url: URL) throws {
        let name = url.lastPathComponent
        fileName = name
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw SafeTensorsError.cannotOpen(file: name, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw SafeTensorsError.cannotOpen(file: name, reason: String(cString: strerror(errno)))
        }
        let size = Int(st.st_size)
        fileSize = size
        guard size >= 8 else { throw SafeTensorsError.truncated(file: name, size: size) }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw SafeTensorsError.cannotOpen(file: name, reason: "mmap: " + String(cString: strerror(errno)))
        }
        map = p
        do {
            let raw = UnsafeRawBufferPointer(start: p, count: size)
            let parsed = try SafeTensors.parse(raw, file: name)
            tensors = parsed.tensors
            metadata = parsed.metadata
            headerLength = parsed.headerLength
            dataStart = 8 + parsed.headerLength
        } catch {
            munmap(p, size)
            throw error
        }
    }

    deinit {
        if let map { munmap(map, fileSize) }
    }

    /// Validates the header against the mapped file: every check that guards a later pointer
    /// access (lengths, offsets, sizes, overlaps) happens here, before any tensor is read.
    static func parse(_ raw: UnsafeRawBufferPointer, file: String)
        throws -> (tensors: [String: TensorInfo], metadata: [String: String], headerLength: Int)
    {
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(raw[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(raw.count - 8) else {
            throw SafeTensorsError.headerOutOfBounds(file: file, headerLength: n, fileSize: raw.count)
        }
        let headerLength = Int(n)
        let dataSize = raw.count - 8 - headerLength
        let headerData = Data(raw[8..<(8 + headerLength)])
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: headerData)
        } catch let e as HeaderEntryError {
            throw SafeTensorsError.invalidEntry(file: file, tensor: e.tensor, reason: e.reason)
        } catch {
            throw SafeTensorsError.invalidJSON(file: file, detail: shortDescription(error))
        }
        var tensors: [String: TensorInfo] = [:]
        // In data order, so a truncated file reports the first tensor that no longer fits.
        let ordered = header.entries.sorted { ($0.value.offsets.first ?? 0, $0.key) < ($1.value.offsets.first ?? 0, $1.key) }
        for (name, entry) in ordered {
            guard let dtype = DType(rawValue: entry.dtype) else {
                throw SafeTensorsError.unknownDType(file: file, tensor: name, dtype: entry.dtype)
            }
            guard entry.shape.allSatisfy({ $0 >= 0 }) else {
                throw SafeTensorsError.invalidEntry(file: file, tensor: name, reason: "negative dimension in shape \(entry.shape)")
            }
            guard entry.offsets.count == 2 else {
                throw SafeTensorsError.invalidEntry(file: file, tensor: name, reason: "\"data_offsets\" must hold two integers")
            }
            let (begin, end) = (entry.offsets[0], entry.offsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw SafeTensorsError.offsetsOutOfBounds(file: file, tensor: name, begin: begin, end: end, dataSize: dataSize)
            }
            var bytes = dtype.byteSize
            var overflow = false
            for dim in entry.shape {
                let r = bytes.multipliedReportingOverflow(by: dim)
                bytes = r.partialValue
                overflow = overflow || r.overflow
            }
            guard !overflow, bytes == end - begin else {
                throw SafeTensorsError.sizeMismatch(file: file, tensor: name, shape: entry.shape, dtype: entry.dtype,
                                                    expected: overflow ? Int.max : bytes, actual: end - begin)
            }
            tensors[name] = TensorInfo(name: name, dtype: dtype, shape: entry.shape, begin: begin, end: end)
        }
        let metadata = header.metadata
        // Overlap check on the sorted ranges; empty tensors occupy no bytes and cannot overlap.
        let sorted = tensors.values.filter { $0.end > $0.begin }.sorted { ($0.begin, $0.name) < ($1.begin, $1.name) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.begin < a.end {
            throw SafeTensorsError.overlap(file: file, first: a.name, second: b.name)
        }
        return (tensors, metadata, headerLength)
    }

    /// An fp32 tensor read in place from the mapping; other dtypes, and F32 data the file leaves
    /// unaligned for Float, are converted or copied as `tensor(_:)` does.
    public func weights(_ name: String) throws -> WeightMatrix {
        guard let info = tensors[name] else { throw SafeTensorsError.noSuchTensor(file: fileName, tensor: name) }
        let offset = dataStart + info.begin
        guard info.dtype == .F32, (Int(bitPattern: map!) + offset) % MemoryLayout<Float>.alignment == 0 else {
            return WeightMatrix(try tensor(name))
        }
        return WeightMatrix(mapping: self, byteOffset: offset, shape: info.shape)
    }

    /// The mapped file's bytes from `offset` as Floats; callers keep `self` alive while they read.
    func floats(atByteOffset offset: Int) -> UnsafePointer<Float> {
        UnsafeRawPointer(map! + offset).assumingMemoryBound(to: Float.self)
    }

    /// Loads a tensor converted to fp32.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = tensors[name] else { throw SafeTensorsError.noSuchTensor(file: fileName, tensor: name) }
        let src = UnsafeRawPointer(map!) + dataStart + info.begin
        let count = info.shape.reduce(1, *)
        defer { release(src, byteCount: count * info.dtype.byteSize) }
        switch info.dtype {
        case .F32:
            return Tensor.uninitialized(info.shape) { dst in
                // The data section need not be 4-byte aligned; copy bytes, the file is little-endian like x86/arm.
                UnsafeMutableRawPointer(dst.baseAddress!).copyMemory(from: src, byteCount: count * 4)
            }
        case .F16:
            return Tensor.uninitialized(info.shape) { dst in
                for i in 0..<count {
                    let bits = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    dst[i] = Float(Float16(bitPattern: UInt16(littleEndian: bits)))
                }
            }
        case .BF16:
            return Tensor.uninitialized(info.shape) { dst in
                for i in 0..<count {
                    let bits = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    dst[i] = Float(bitPattern: UInt32(bits) << 16)
                }
            }
        default:
            throw SafeTensorsError.unsupportedDType(file: fileName, tensor: name, dtype: info.dtype.rawValue)
        }
    }
}

extension SafeTensors {
    /// Drops the mapped pages wholly inside a tensor just copied out, so loading a checkpoint does
    /// not hold the file's pages and the copies at once (the peak of a run is while its last model
    /// loads). Read-only private pages come back from the file if the tensor is read again.
    func release(_ start: UnsafeRawPointer, byteCount: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = (Int(bitPattern: start) + page - 1) / page * page
        let hi = (Int(bitPattern: start) + byteCount) / page * page
        guard hi > lo else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), hi - lo, MADV_DONTNEED)
    }
}

/// The JSON header, decoded with JSONDecoder so that integers are checked strictly (no
/// fractions, booleans or overflow) before any offset arithmetic happens.
private struct Header: Decodable {
    struct Entry {
        let dtype: String
        let shape: [Int]
        let offsets: [Int]
    }

    var entries: [String: Entry] = [:]
    var metadata: [String: String] = [:]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        for key in c.allKeys {
            if key.stringValue == "__metadata__" {
                guard let m = try? c.decode([String: String].self, forKey: key) else {
                    throw HeaderEntryError(tensor: key.stringValue, reason: "metadata must map strings to strings")
                }
                metadata = m
                continue
            }
            func fail(_ reason: String) -> HeaderEntryError { HeaderEntryError(tensor: key.stringValue, reason: reason) }
            guard let e = try? c.nestedContainer(keyedBy: Key.self, forKey: key) else { throw fail("entry is not an object") }
            guard let dtype = try? e.decode(String.self, forKey: Key(stringValue: "dtype")) else {
                throw fail("missing or non-string \"dtype\"")
            }
            guard let shape = try? e.decode([Int].self, forKey: Key(stringValue: "shape")) else {
                throw fail("\"shape\" is missing or not an array of integers")
            }
            guard let offsets = try? e.decode([Int].self, forKey: Key(stringValue: "data_offsets")) else {
                throw fail("\"data_offsets\" is missing or not an array of integers")
            }
            entries[key.stringValue] = Entry(dtype: dtype, shape: shape, offsets: offsets)
        }
    }
}

private struct HeaderEntryError: Error {
    let tensor: String
    let reason: String
}

private func shortDescription(_ error: Error) -> String {
    if case DecodingError.dataCorrupted(let ctx) = error {
        return ctx.underlyingError.map { String(describing: $0) } ?? ctx.debugDescription
    }
    if case DecodingError.typeMismatch(_, let ctx) = error { return ctx.debugDescription }
    return String(describing: error)
}
