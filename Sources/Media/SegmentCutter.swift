import Foundation

/// Cuts a stream of samples into the segments it was told about, keeping only what pending segments need.
struct SegmentCutter {
    struct Pending { let index: Int; let start: Int; let end: Int? }
    let rate: Int
    var pending: [Pending]
    var buffer: [Float] = []
    var bufferStart = 0
    var written = 0
    var done: [AudioSegment] = []
    var chunk: Int? = nil
    var nextChunk = 0
    var started = false

    init(options: AudioOptions, frameTimes: [Double], duration: Double?) {
        rate = options.sampleRate
        let r = Double(rate)
        var p: [Pending] = []
        if frameTimes.isEmpty {
            // Audio-only: fixed chunks over the whole stream, cut as samples arrive.
            chunk = max(1, Int(options.chunkSeconds * r))
        } else {
            switch options.segmenting {
            case .span:
                for (i, t) in frameTimes.enumerated() {
                    let end = i + 1 < frameTimes.count ? Int((frameTimes[i + 1] * r).rounded()) : nil
                    p.append(Pending(index: i, start: max(0, Int((t * r).rounded())), end: end))
                }
            case let .window(w):
                for (i, t) in frameTimes.enumerated() {
                    p.append(Pending(index: i, start: max(0, Int(((t - w / 2) * r).rounded())), end: Int(((t + w / 2) * r).rounded())))
                }
            }
        }
        pending = p.sorted { $0.start < $1.start }
    }

    mutating func append(_ samples: [Float], offset: Int) {
        if !started {
            started = true
            // Audio starting after the video leaves silence on the shared clock; before it, samples are dropped.
            if offset > 0 { buffer.append(contentsOf: repeatElement(0, count: offset)) }
            written = offset
        }
        var input = samples[...]
        if written + input.count <= 0 { written += input.count; return }
        if written < 0 { input = input.dropFirst(-written); written = 0; bufferStart = 0 }
        buffer.append(contentsOf: input)
        written += input.count
        emit(final: false)
    }

    private mutating func emit(final: Bool) {
        let available = bufferStart + buffer.count
        if let chunk {
            while nextChunk * chunk < available && (final || (nextChunk + 1) * chunk <= available) {
                pending.append(Pending(index: nextChunk, start: nextChunk * chunk, end: min((nextChunk + 1) * chunk, available)))
                nextChunk += 1
            }
        }
        var remaining: [Pending] = []
        for seg in pending {
            let end = seg.end ?? (final ? available : Int.max)
            if end <= available || final {
                let s = max(seg.start, bufferStart), e = min(end, available)
                let slice = e > s ? Array(buffer[(s - bufferStart)..<(e - bufferStart)]) : []
                done.append(AudioSegment(index: seg.index, start: Double(seg.start) / Double(rate),
                                         end: Double(seg.start + slice.count) / Double(rate), sampleRate: rate, samples: slice))
            } else {
                remaining.append(seg)
            }
        }
        pending = remaining
        let keepFrom = min(pending.map(\.start).min() ?? available, chunk.map { nextChunk * $0 } ?? available)
        if keepFrom > bufferStart {
            let drop = min(buffer.count, keepFrom - bufferStart)
            buffer.removeFirst(drop)
            bufferStart += drop
        }
    }

    mutating func finish() -> [AudioSegment] {
        emit(final: true)
        return done.filter { !$0.samples.isEmpty }.sorted { $0.index < $1.index }
    }
}
