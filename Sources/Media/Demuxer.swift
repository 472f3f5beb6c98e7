import CFFmpeg

public enum StreamKind: String, Sendable, Codable {
    case video, audio, subtitle, other
}

/// What probing a stream tells, in Swift terms, so stages never read `AVStream` fields.
public struct StreamInfo: Sendable {
    public let index: Int
    public let kind: StreamKind
    public let codec: String
    public let width: Int
    public let height: Int
    /// Sample aspect ratio (1 when unknown); display width = width × sar.
    public let sampleAspectRatio: Double
    /// Counter-clockwise rotation in degrees to apply for display, from the display matrix (0, 90, 180, 270).
    public let rotation: Int
    public let frameRate: Double
    public let sampleRate: Int
    public let channels: Int
    public let startTime: Double
    public let duration: Double?
    public let isAttachedPicture: Bool
}

/// Owning wrapper of an `AVFormatContext` opened for reading.
final class Demuxer {
    private(set) var context: UnsafeMutablePointer<AVFormatContext>
    let path: String

    init(path: String) throws {
        _ = AV.quietOnce
        self.path = path
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        try check(avformat_open_input(&ctx, path, nil, nil), "avformat_open_input(\(path))")
        guard let opened = ctx else { throw FFmpegError(operation: "avformat_open_input", message: "no context") }
        context = opened
        do {
            try check(avformat_find_stream_info(context, nil), "avformat_find_stream_info")
        } catch {
            var c: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&c)
            throw error
        }
    }

    deinit {
        var c: UnsafeMutablePointer<AVFormatContext>? = context
        avformat_close_input(&c)
    }

    var formatName: String {
        guard let iformat = context.pointee.iformat, let name = iformat.pointee.name else { return "unknown" }
        return String(cString: name)
    }

    /// Container duration in seconds, when the container knows it.
    var duration: Double? {
        let d = context.pointee.duration
        return d == AV.noPTS || d <= 0 ? nil : Double(d) / Double(capfilt_av_time_base())
    }

    var streamCount: Int { Int(context.pointee.nb_streams) }

    func stream(_ index: Int) -> UnsafeMutablePointer<AVStream> {
        context.pointee.streams[index]!
    }

    /// Seconds per tick of the stream's timestamps.
    func timeBase(of index: Int) -> Double { av_q2d(stream(index).pointee.time_base) }

    func info(_ index: Int) -> StreamInfo {
        let s = stream(index)
        let par = s.pointee.codecpar!.pointee
        let kind: StreamKind
        switch par.codec_type {
        case AVMEDIA_TYPE_VIDEO: kind = .video
        case AVMEDIA_TYPE_AUDIO: kind = .audio
        case AVMEDIA_TYPE_SUBTITLE: kind = .subtitle
        default: kind = .other
        }
        let codecName = avcodec_get_name(par.codec_id).map { String(cString: $0) } ?? "unknown"
        let tb = s.pointee.time_base
        var sar = 1.0
        let sarQ = par.sample_aspect_ratio.num != 0 ? par.sample_aspect_ratio : s.pointee.sample_aspect_ratio
        if sarQ.num > 0 && sarQ.den > 0 { sar = Double(sarQ.num) / Double(sarQ.den) }
        var rotation = 0
        var size: Int = 0
        if let matrix = av_stream_get_side_data(s, AV_PKT_DATA_DISPLAYMATRIX, &size), size >= 9 * 4 {
            let degrees = matrix.withMemoryRebound(to: Int32.self, capacity: 9) { av_display_rotation_get($0) }
            if degrees.isFinite {
                // av_display_rotation_get is counter-clockwise; the frame must be turned by its negation.
                let r = Int((-degrees).rounded())
                rotation = ((r % 360) + 360) % 360
            }
        }
        let fr = s.pointee.avg_frame_rate.num > 0 ? s.pointee.avg_frame_rate : s.pointee.r_frame_rate
        let start = s.pointee.start_time == AV.noPTS ? 0 : Double(s.pointee.start_time) * av_q2d(tb)
        let dur: Double? = s.pointee.duration == AV.noPTS || s.pointee.duration <= 0 ? nil : Double(s.pointee.duration) * av_q2d(tb)
        return StreamInfo(
            index: index, kind: kind, codec: codecName,
            width: Int(par.width), height: Int(par.height),
            sampleAspectRatio: sar, rotation: rotation,
            frameRate: fr.den > 0 ? av_q2d(fr) : 0,
            sampleRate: Int(par.sample_rate), channels: Int(par.ch_layout.nb_channels),
            startTime: start, duration: dur,
            isAttachedPicture: (s.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC) != 0)
    }

    /// libav's own choice of the best stream of a kind (what `ffmpeg` would map), or nil.
    func bestStream(_ kind: StreamKind) -> Int? {
        let type: AVMediaType
        switch kind {
        case .video: type = AVMEDIA_TYPE_VIDEO
        case .audio: type = AVMEDIA_TYPE_AUDIO
        case .subtitle: type = AVMEDIA_TYPE_SUBTITLE
        case .other: return nil
        }
        let r = av_find_best_stream(context, type, -1, -1, nil, 0)
        return r >= 0 ? Int(r) : nil
    }

    /// Reads the next packet into `packet`; false at end of file.
    func read(into packet: Packet) throws -> Bool {
        let r = av_read_frame(context, packet.pointer)
        if r == AV.eof { return false }
        try check(r, "av_read_frame")
        return true
    }

    /// Seeks the stream to the last keyframe at or before `timestamp` (stream time base).
    func seek(stream index: Int, to timestamp: Int64) throws {
        try check(av_seek_frame(context, Int32(index), timestamp, AVSEEK_FLAG_BACKWARD), "av_seek_frame")
    }

    /// Keyframe timestamps the container index knows (MP4 sample tables, Matroska cues), in stream time base.
    func indexedKeyframes(stream index: Int) -> [Int64] {
        let s = stream(index)
        let count = avformat_index_get_entries_count(s)
        var result: [Int64] = []
        result.reserveCapacity(Int(count))
        for i in 0..<count {
            guard let e = avformat_index_get_entry(s, i) else { continue }
            if (e.pointee.flags & AVINDEX_KEYFRAME) != 0 { result.append(e.pointee.timestamp) }
        }
        return result.sorted()
    }

    /// Tells the demuxer to drop every stream but these, so reading skips their packets cheaply.
    func keepOnly(_ streams: Set<Int>) {
        for i in 0..<streamCount {
            stream(i).pointee.discard = streams.contains(i) ? AVDISCARD_DEFAULT : AVDISCARD_ALL
        }
    }
}
