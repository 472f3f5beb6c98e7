import Media

/// What a synthetic file holds: how each stream is encoded and how long it runs. Used by tests and by
/// `capfilt synth` to make real media with libavcodec (`SyntheticMedia`).
public struct MediaSpec: Sendable {
    public typealias VideoCodec = VideoEncoding.Codec
    public typealias AudioCodec = AudioEncoding.Codec
    public typealias SubtitleCodec = SubtitleEncoding

    public struct Video: Sendable {
        public var encoding: VideoEncoding
        public var frames: Int
        public init(codec: VideoCodec = .h264, width: Int, height: Int, fps: Int = 30, frames: Int, gop: Int = 30,
                    rotation: Int = 0, sampleAspectRatio: (num: Int32, den: Int32) = (1, 1), pixelFormat: String? = nil) {
            encoding = VideoEncoding(codec: codec, width: width, height: height, fps: fps, gop: gop, rotation: rotation,
                                     sampleAspectRatio: sampleAspectRatio, pixelFormat: pixelFormat)
            self.frames = frames
        }
    }

    public struct Audio: Sendable {
        public var encoding: AudioEncoding
        public var duration: Double
        public init(codec: AudioCodec = .aac, sampleRate: Int = 44_100, channels: Int = 2, duration: Double) {
            encoding = AudioEncoding(codec: codec, sampleRate: sampleRate, channels: channels)
            self.duration = duration
        }
    }

    public var video: Video?
    public var audio: Audio?
    public var subtitles: (codec: SubtitleCodec, cues: [SubtitleCue])?
    public init(video: Video? = nil, audio: Audio? = nil, subtitles: (codec: SubtitleCodec, cues: [SubtitleCue])? = nil) {
        self.video = video; self.audio = audio; self.subtitles = subtitles
    }
}
