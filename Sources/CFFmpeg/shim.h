#ifndef CAPFILT_CFFMPEG_SHIM_H
#define CAPFILT_CFFMPEG_SHIM_H
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/display.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/sha.h>
#include <libavutil/pixdesc.h>
#include <libavutil/mathematics.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>

// Only what Swift cannot import: function-like and compound-literal macros.
static inline int capfilt_averror(int e) { return AVERROR(e); }
static inline int capfilt_averror_eof(void) { return AVERROR_EOF; }
static inline int capfilt_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int64_t capfilt_nopts(void) { return AV_NOPTS_VALUE; }
static inline AVRational capfilt_time_base_q(void) { return AV_TIME_BASE_Q; }
static inline int capfilt_av_time_base(void) { return AV_TIME_BASE; }
static inline int capfilt_error_max_string_size(void) { return AV_ERROR_MAX_STRING_SIZE; }
static inline int capfilt_mktag(char a, char b, char c, char d) { return MKTAG(a, b, c, d); }
#endif
