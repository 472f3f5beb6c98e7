import CFFmpeg

/// Owning wrapper of an `AVPacket`; freed in `deinit`.
final class Packet {
    let pointer: UnsafeMutablePointer<AVPacket>

    init() throws {
        guard let p = av_packet_alloc() else { throw FFmpegError(operation: "av_packet_alloc", message: "out of memory") }
        pointer = p
    }

    deinit {
        var p: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&p)
    }

    func unref() { av_packet_unref(pointer) }
    var streamIndex: Int { Int(pointer.pointee.stream_index) }
}

/// Owning wrapper of an `AVFrame`; freed in `deinit`.
final class Frame {
    let pointer: UnsafeMutablePointer<AVFrame>

    init() throws {
        guard let f = av_frame_alloc() else { throw FFmpegError(operation: "av_frame_alloc", message: "out of memory") }
        pointer = f
    }

    deinit {
        var f: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&f)
    }

    func unref() { av_frame_unref(pointer) }
    var width: Int { Int(pointer.pointee.width) }
    var height: Int { Int(pointer.pointee.height) }
    var isKeyFrame: Bool { pointer.pointee.key_frame != 0 }
    var isIntraCoded: Bool { pointer.pointee.pict_type == AV_PICTURE_TYPE_I }
    var bestEffortTimestamp: Int64 { pointer.pointee.best_effort_timestamp }
}
