// Ports of the parts of transformers' generation/utils.py and logits_process.py that BLIP
// captioning uses: RepetitionPenaltyLogitsProcessor, MinNewTokensLengthLogitsProcessor,
// TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, and the vectorised beam search's
// per-step bookkeeping (_get_top_k_continuations, _get_running_beams_for_next_iteration,
// _update_finished_beams, _check_early_stop_heuristic). Sampling uses our own seeded generator
// (torch's RNG stream is not reproduced), so samples are reproducible but not torch's.
import Foundation
import Tensor

/// One generated caption.
public struct Caption: Sendable, Codable, Equatable {
    public var text: String
    /// The whole sequence as generate() returns it: [DEC], the prompt's tokens, the generated
    /// tokens up to and including [SEP] (absent when max_new_tokens ran out). No padding.
    public var tokens: [Int]
    /// Beam search: transformers' sequences_scores (sum of processed log-probabilities divided by
    /// generated_length^length_penalty). Greedy and nucleus: equal to logProb.
    public var score: Float
    /// Sum over the generated tokens of the model's log-probability (log-softmax of the raw logits).
    public var logProb: Float
}

public struct CaptionSettings: Sendable, Codable, Equatable {
    public enum Strategy: Sendable, Codable, Equatable {
        case greedy
        case beam(numBeams: Int, lengthPenalty: Float, earlyStopping: EarlyStopping)
        case nucleus(topP: Float, topK: Int, temperature: Float)
    }

    /// generate()'s early_stopping: `.heuristic` is False (the default), `.whenFull` is True
    /// (stop as soon as num_beams hypotheses are finished), `.never` is "never" (canonical beam search).
    public enum EarlyStopping: String, Sendable, Codable {
        case heuristic, whenFull, never
    }

    public var strategy: Strategy
    public var repetitionPenalty: Float
    public var minNewTokens: Int
    public var maxNewTokens: Int
    /// Text the caption must continue (e.g. "a picture of"); it is part of the returned text, as
    /// with transformers' batch_decode.
    public var prompt: String?
    /// Captions per image: samples for nucleus, the best num_return_sequences for beam; greedy has one.
    public var numCaptions: Int
    public var seed: UInt64

    public init(strategy: Strategy = .greedy, repetitionPenalty: Float = 1, minNewTokens: Int = 0, maxNewTokens: Int = 20,
                prompt: String? = nil, numCaptions: Int = 1, seed: UInt64 = 0) {
        self.strategy = strategy
        self.repetitionPenalty = repetitionPenalty
        self.minNewTokens = minNewTokens
        self.maxNewTokens = maxNewTokens
        self.prompt = prompt
        self.numCaptions = numCaptions
        self.seed = seed
    }

    public func validate() throws {
        func fail(_ s: String) -> BLIPError { .invalidInput("caption settings: " + s) }
        guard maxNewTokens >= 1 else { throw fail("maxNewTokens must be at least 1") }
        guard minNewTokens >= 0, minNewTokens <= maxNewTokens else { throw fail("minNewTokens must be in 0...maxNewTokens") }
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else { throw fail("repetitionPenalty must be positive") }
        guard numCaptions >= 1 else { throw fail("numCaptions must be at least 1") }
        switch strategy {
        case .greedy:
            guard numCaptions == 1 else { throw fail("greedy search gives one caption per image (use beam or nucleus for more)") }
        case let .beam(numBeams, lengthPenalty, _):
            guard numBeams >= 1 else { throw fail("numBeams must be at least 1") }
            guard numCaptions <= numBeams else { throw fail("numCaptions (\(numCaptions)) must not exceed numBeams (\(numBeams))") }
            guard lengthPenalty.isFinite else { throw fail("lengthPenalty must be finite") }
        case let .nucleus(topP, topK, temperature):
            guard topP > 0, topP <= 1 else { throw fail("topP must be in (0, 1]") }
            guard topK >= 0 else { throw fail("topK must be >= 0 (0 disables it)") }
            guard temperature > 0, temperature.isFinite else { throw fail("temperature must be positive") }
        }
    }
}

enum LogitsProcessing {
    /// RepetitionPenaltyLogitsProcessor: every token already in the sequence (prompt included) is
    /// made less likely: negative scores multiplied by the penalty, positive ones divided.
    static func repetitionPenalty(_ scores: inout [Float], previous: [Int], penalty: Float) {
        guard penalty != 1 else { return }
        for t in Set(previous) {
            let s = scores[t]
            scores[t] = s < 0 ? s * penalty : s / penalty
        }
    }

    /// MinNewTokensLengthLogitsProcessor: [SEP] is impossible until min_new_tokens are generated.
    static func minNewTokens(_ scores: inout [Float], newTokens: Int, minNewTokens: Int, eos: Int) {
        if newTokens < minNewTokens { scores[eos] = -.infinity }
    }

    static func temperature(_ scores: inout [Float], _ t: Float) {
        guard t != 1 else { return }
        for i in scores.indices { scores[i] /= t }
    }

    /// TopKLogitsWarper: scores below the k-th largest become -inf (ties with it survive).
    static func topK(_ scores: inout [Float], _ k: Int, minTokensToKeep: Int = 1) {
        let k = min(max(k, minTokensToKeep), scores.count)
        guard k > 0, k < scores.count else { return }
        let threshold = scores.sorted(by: >)[k - 1]
        for i in scores.indices where scores[i] < threshold { scores[i] = -.infinity }
    }

    /// TopPLogitsWarper: in ascending order, tokens whose cumulative probability is <= 1 - top_p
    /// are removed, keeping at least the most probable one.
    static func topP(_ scores: inout [Float], _ p: Float, minTokensToKeep: Int = 1) {
        guard p < 1 else { return }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        let probs = softmax(order.map { scores[$0] })
        var cumulative: Float = 0
        for (rank, i) in order.enumerated() {
            cumulative += probs[rank]
            if cumulative <= 1 - p && rank < order.count - minTokensToKeep { scores[i] = -.infinity }
        }
    }

    static func softmax(_ x: [Float]) -> [Float] {
        let m = x.max() ?? 0
        guard m > -.infinity else { return x.map { _ in 0 } }
        let e = x.map { expf($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    static func logSoftmax(_ x: UnsafeBufferPointer<Float>) -> [Float] {
        var m = -Float.infinity
        for v in x { m = max(m, v) }
        var s: Double = 0
        for v in x { s += Double(expf(v - m)) }
        let lse = m + Float(log(s))
        return x.map { $0 - lse }
    }

    /// The processed distribution nucleus sampling draws from (after repetition penalty and
    /// min_new_tokens, which the caller applies first).
    static func samplingDistribution(_ scores: [Float], temperature t: Float, topK k: Int, topP p: Float) -> [Float] {
        var s = scores
        temperature(&s, t)
        if k > 0 { topK(&s, k) }
        topP(&s, p)
        return softmax(s)
    }
}

extension LogitsProcessing {
    /// `rng.sample(samplingDistribution(scores, …))` without sorting the vocabulary: the k-th
    /// largest score comes from a k-entry heap, and only the top-k survivors are sorted for top-p.
    /// Every float operation that decides the outcome is the one samplingDistribution does, in the
    /// same order: removed tokens only ever add exact zeros to its sums (and leave its cumulative
    /// sum at exactly 0 before the survivors), so the distribution over the survivors is bit for
    /// bit the same and so is the draw (one nextDouble, the same cumulative walk in index order).
    /// top_k 0 (disabled), k ≥ vocabulary, or non-finite scores take the full path.
    static func sampleNucleus(_ scores: UnsafeBufferPointer<Float>, temperature t: Float, topK k: Int, topP p: Float,
                              rng: inout SplitMix64) -> Int {
        let n = scores.count
        let kk = min(max(k, 1), n)
        func full() -> Int { rng.sample(samplingDistribution(Array(scores), temperature: t, topK: k, topP: p)) }
        guard k > 0, kk < n else { return full() }
        @inline(__always) func scaled(_ i: Int) -> Float { t == 1 ? scores[i] : scores[i] / t }
        // k-th largest scaled score (duplicates counted, as sorted(by: >)[k - 1]): a min-heap of the k largest.
        var heap = (0..<kk).map(scaled)
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < kk && heap[l] < heap[m] { m = l }
                if r < kk && heap[r] < heap[m] { m = r }
                if m == i { return }
                heap.swapAt(i, m)
                i = m
            }
        }
        for i in stride(from: kk / 2 - 1, through: 0, by: -1) { siftDown(i) }
        for i in kk..<n {
            let v = scaled(i)
            if v > heap[0] { heap[0] = v; siftDown(0) }
        }
        let threshold = heap[0]
        guard threshold.isFinite else { return full() }
        // Survivors of top-k in index order (scores below the threshold became -inf there).
        var index: [Int] = [], value: [Float] = []
        index.reserveCapacity(kk + 8)
        value.reserveCapacity(kk + 8)
        for i in 0..<n {
            let v = scaled(i)
            if v >= threshold { index.append(i); value.append(v) }
        }
        let m = index.count
        guard let top = value.max(), top.isFinite, value.allSatisfy({ !$0.isNaN }) else { return full() }
        var kept = [Bool](repeating: true, count: m)
        if p < 1 {
            // TopPLogitsWarper: ascending order (a stable sort: ties in index order), softmax summed
            // in that order, cumulative probability <= 1 - p removed, the most probable one kept.
            let order = (0..<m).sorted { value[$0] < value[$1] || (value[$0] == value[$1] && $0 < $1) }
            let e = order.map { expf(value[$0] - top) }
            var sum: Float = 0
            for x in e { sum += x }
            var cumulative: Float = 0
            for (rank, j) in order.enumerated() {
                cumulative += e[rank] / sum
                if cumulative <= 1 - p && rank < m - 1 { kept[j] = false }
            }
        }
        // Softmax of what is left, summed in index order, then the cumulative draw in index order.
        var e = [Float](repeating: 0, count: m)
        var sum: Float = 0
        for j in 0..<m where kept[j] {
            e[j] = expf(value[j] - top)
            sum += e[j]
        }
        let u = rng.nextDouble()
        var c: Double = 0
        var last = 0
        for j in 0..<m where kept[j] {
            let prob = e[j] / sum
            guard prob > 0 else { continue }
            c += Double(prob)
            last = index[j]
            if u < c { return index[j] }
        }
        return last
    }

    /// logSoftmax(x)[i] alone (the same max, sum and subtraction).
    static func logSoftmax(_ x: UnsafeBufferPointer<Float>, at i: Int) -> Float {
        var m = -Float.infinity
        for v in x { m = max(m, v) }
        var s: Double = 0
        for v in x { s += Double(expf(v - m)) }
        return x[i] - (m + Float(log(s)))
    }
}

/// Beam search state of one image: transformers' per-batch-item tensors (running_sequences,
/// running_beam_scores, sequences, beam_scores, is_sent_finished, is_early_stop_heuristic_unsatisfied).
struct BeamState {
    struct Hypothesis {
        var tokens: [Int]
        var score: Float
        var logProb: Float
        var finished = false
    }

    let numBeams: Int
    let promptLength: Int
    let maxLength: Int
    let lengthPenalty: Float
    let earlyStopping: CaptionSettings.EarlyStopping
    var running: [Hypothesis]
    var finished: [Hypothesis]
    var heuristicUnsatisfied = true
    var done = false

    init(prompt: [Int], numBeams: Int, maxLength: Int, lengthPenalty: Float, earlyStopping: CaptionSettings.EarlyStopping) {
        self.numBeams = numBeams
        promptLength = prompt.count
        self.maxLength = maxLength
        self.lengthPenalty = lengthPenalty
        self.earlyStopping = earlyStopping
        // Only the first beam starts live, so the first step does not pick the same token num_beams times.
        running = (0..<numBeams).map { Hypothesis(tokens: prompt, score: $0 == 0 ? 0 : -1e9, logProb: 0) }
        finished = (0..<numBeams).map { _ in Hypothesis(tokens: prompt, score: -1e9, logProb: 0) }
    }

    /// One step. `processed[j]` are beam j's log-probabilities after the logits processors,
    /// `raw[j]` the model's own log-probabilities. Returns, for each new running beam, the index of
    /// the beam it continues (for reordering the KV cache).
    mutating func step(processed: [[Float]], raw: [[Float]], eos: Int) -> [Int] {
        let curLen = running[0].tokens.count
        let vocab = processed[0].count
        let k = max(2, 2) * numBeams   // beams_to_keep = max(2, 1 + n_eos_tokens) · num_beams, one eos token
        // a. top-k continuations over all beams of accumulated scores.
        var top: [(score: Float, index: Int)] = []
        top.reserveCapacity(k + 1)
        for j in 0..<numBeams {
            let base = running[j].score
            processed[j].withUnsafeBufferPointer { p in
                for t in 0..<vocab {
                    let s = p[t] + base
                    if top.count == k, let last = top.last, !(s > last.score) { continue }
                    var pos = top.count
                    while pos > 0 && top[pos - 1].score < s { pos -= 1 }
                    top.insert((s, j * vocab + t), at: pos)
                    if top.count > k { top.removeLast() }
                }
            }
        }
        let candidates: [Hypothesis] = top.map { c in
            let j = c.index / vocab, t = c.index % vocab
            return Hypothesis(tokens: running[j].tokens + [t], score: c.score, logProb: running[j].logProb + raw[j][t])
        }
        let sources = top.map { $0.index / vocab }
        // b. which continuations hit a stopping criterion (eos, or max_length reached).
        let hits = candidates.map { $0.tokens.last! == eos || curLen + 1 >= maxLength }

        // c. next running beams: the best non-finished continuations.
        var runningOrder = candidates.indices.map { (i: $0, s: candidates[$0].score + (hits[$0] ? -1e9 : 0)) }
        runningOrder.sort { $0.s > $1.s }
        let chosen = runningOrder.prefix(numBeams)
        let nextRunning = chosen.map { c -> Hypothesis in
            var h = candidates[c.i]
            h.score = c.s
            return h
        }
        let nextSources = chosen.map { sources[$0.i] }

        // d. merge newly finished top-num_beams continuations into the finished hypotheses.
        let allFinished = finished.allSatisfy(\.finished)
        let penalty = Float(pow(Double(curLen + 1 - promptLength), Double(lengthPenalty)))
        var merged = finished
        for (i, c) in candidates.enumerated() {
            let justFinished = hits[i] && i < numBeams
            var s = c.score / penalty
            if allFinished && earlyStopping == .whenFull { s += -1e9 }
            if !heuristicUnsatisfied { s += -1e9 }
            if !justFinished { s += -1e9 }
            var h = c
            h.score = s
            h.finished = justFinished
            merged.append(h)
        }
        let order = merged.indices.sorted { merged[$0].score > merged[$1].score || (merged[$0].score == merged[$1].score && $0 < $1) }
        finished = order.prefix(numBeams).map { merged[$0] }
        running = nextRunning

        // e. stopping: can a running beam still beat the worst finished one?
        let newLen = curLen + 1
        let bestLength = (earlyStopping == .never && lengthPenalty > 0) ? maxLength - promptLength : newLen - promptLength
        let bestPossible = running[0].score / Float(pow(Double(bestLength), Double(lengthPenalty)))
        let worst = finished.map(\.score).min()!
        heuristicUnsatisfied = heuristicUnsatisfied && finished.contains { bestPossible > ($0.finished ? worst : -1e9) }
        let full = finished.allSatisfy(\.finished) && earlyStopping == .whenFull
        done = !heuristicUnsatisfied || full || hits.allSatisfy { $0 }
        return nextSources
    }
}
