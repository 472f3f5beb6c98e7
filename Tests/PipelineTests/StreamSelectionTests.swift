import Demo
import Foundation
import Media
import XCTest
@testable import Pipeline

/// `video_stream`, `audio_stream`, `subtitle_streams`: a stream by index or language tag (subtitles:
/// also a list, or all). A file written by libavformat's Matroska muxer with two of each.
final class StreamSelectionTests: XCTestCase {
    var path = ""

    override func setUpWithError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("streams-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        path = dir.appendingPathComponent("two-of-each.mkv").path
        let file = try MediaFileWriter(path: path)
        let wide = try file.addVideo(VideoEncoding(codec: .h264, width: 64, height: 48, fps: 10, gop: 10))
        let small = try file.addVideo(VideoEncoding(codec: .mpeg4, width: 32, height: 24, fps: 10, gop: 10))
        let english = try file.addAudio(AudioEncoding(codec: .aac, sampleRate: 16_000, channels: 1), language: "eng")
        let french = try file.addAudio(AudioEncoding(codec: .flac, sampleRate: 16_000, channels: 1), language: "fra")
        let subEnglish = try file.addSubtitles(.subrip, language: "eng")
        let subFrench = try file.addSubtitles(.subrip, language: "fra")
        try file.start()
        try subEnglish.append(SubtitleCue(start: 0.1, end: 1.5, text: "hello"))
        try subFrench.append(SubtitleCue(start: 0.1, end: 1.5, text: "bonjour"))
        for i in 0..<20 {
            try wide.append(RGBFrame(width: 64, height: 48) { _, _ in (UInt8(i * 10), 0, 0) })
            try small.append(RGBFrame(width: 32, height: 24) { _, _ in (0, UInt8(i * 10), 0) })
            for writer in [english, french] where writer.time < Double(i + 1) / 10 {
                try writer.append([[Float](repeating: 0.1, count: writer.frameSize)])
            }
        }
        for w in [wide, small] { try w.finish() }
        for w in [english, french] { try w.finish() }
        try file.finish()
    }

    func decode(_ yaml: String) throws -> DecodeResult {
        let config = try PipelineConfig.parse(yaml: "inputs: [{folder: m}]\noutput: {dir: o}\nstages:\n  - stage: decode\n\(yaml)", file: "/tmp/p.yaml")
        var sizes: Set<Int> = []
        let result = try MediaDecoder.decode(path: path, options: config.decode.options) { sizes.insert($0.image?.width ?? 0) }
        XCTAssertEqual(sizes.count, 1)
        return result
    }

    func testDefaultsAreTheBestStreamsAndEverySubtitleStream() throws {
        let r = try decode("    sample: every 1s\n")
        XCTAssertEqual(r.probe.width, 64)
        XCTAssertEqual(r.probe.audioCodec, "aac")
        XCTAssertEqual(Set(r.cues.map { "\($0.text) \($0.language ?? "-")" }), ["hello eng", "bonjour fra"])
    }

    func testStreamsChosenByIndexAndLanguage() throws {
        let r = try decode("    sample: every 1s\n    video_stream: 1\n    audio_stream: fra\n    subtitle_streams: [fra]\n")
        XCTAssertEqual(r.probe.width, 32)
        XCTAssertEqual(r.probe.videoCodec, "mpeg4")
        XCTAssertEqual(r.probe.audioCodec, "flac")
        XCTAssertFalse(r.audio.isEmpty)
        XCTAssertEqual(r.cues.map(\.text), ["bonjour"])
        XCTAssertEqual(try decode("    subtitle_streams: all\n").cues.count, 2)
        XCTAssertEqual(try decode("    subtitle_streams: 4\n").cues.map(\.text), ["hello"])
    }

    func testAStreamThatIsNotThereIsAnErrorListingTheStreams() throws {
        XCTAssertThrowsError(try decode("    audio_stream: deu\n")) {
            XCTAssertTrue("\($0)".contains("no audio stream 'deu' (streams: 0 video h264, 1 video mpeg4, 2 audio aac eng, 3 audio flac fra"), "\($0)")
        }
        XCTAssertThrowsError(try decode("    video_stream: 2\n")) { XCTAssertTrue("\($0)".contains("no video stream 2"), "\($0)") }
    }

    /// Choices enter the decode key only when made; the language is stored on cues when streams are chosen.
    func testKeysAndStoredLanguage() throws {
        let base = try PipelineConfig.parse(yaml: "inputs: [{folder: m}]\noutput: {dir: o}\nstages:\n  - stage: decode\n", file: "/tmp/p.yaml").decode
        XCTAssertFalse(base.fingerprint.contains("_stream"), base.fingerprint)
        let chosen = try PipelineConfig.parse(yaml: "inputs: [{folder: m}]\noutput: {dir: o}\nstages:\n  - {stage: decode, subtitle_streams: [eng, 5]}\n",
                                              file: "/tmp/p.yaml").decode
        XCTAssertTrue(chosen.fingerprint.contains(";subs_stream='eng',5"), chosen.fingerprint)
        let read = try MediaReader(config: chosen, pictures: false).read(path: path)
        XCTAssertEqual(read.cues.map { "\($0.text) \($0.settings ?? "-")" }.sorted(), [#"bonjour {"language":"fra"}"#, #"hello {"language":"eng"}"#])
        XCTAssertEqual(try MediaReader(config: base, pictures: false).read(path: path).cues.compactMap(\.settings), [])
        // The audio stream's language, on its segments when the audio stream is chosen.
        let french = try PipelineConfig.parse(yaml: "inputs: [{folder: m}]\noutput: {dir: o}\nstages:\n  - {stage: decode, audio: true, audio_stream: fra}\n",
                                              file: "/tmp/p.yaml").decode
        let audio = try MediaReader(config: french, pictures: false).read(path: path).audio
        XCTAssertFalse(audio.isEmpty)
        XCTAssertEqual(Set(audio.map(\.language)), ["fra"])
        let unchosen = try PipelineConfig.parse(yaml: "inputs: [{folder: m}]\noutput: {dir: o}\nstages:\n  - {stage: decode, audio: true}\n",
                                                file: "/tmp/p.yaml").decode
        XCTAssertEqual(Set(try MediaReader(config: unchosen, pictures: false).read(path: path).audio.map(\.language)), [nil])
    }
}
