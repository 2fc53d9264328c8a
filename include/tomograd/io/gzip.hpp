#pragma once
/// @file Parallel gzip compression in the manner of pigz: one gzip member (RFC 1952) whose deflate
/// stream is cut into blocks that are compressed on several threads at once.
///
/// Each block is raw deflate primed with the 32 KiB of input before it (so the ratio is within a
/// fraction of a percent of single-threaded zlib), ends on a byte boundary with a sync flush
/// (an empty stored block) and the last one with the final-block bit; the blocks' CRC-32s are
/// joined with crc32_combine(). Every gzip reader (zlib's gzread, hence niftilib's znzlib; Python's
/// gzip and nibabel; `gzip -d`) reads the result as an ordinary single-member file.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace tomograd::io {

/// Settings of gzip_parallel().
struct GzipOptions {
  int level = 6;                          ///< zlib level 0 (stored) .. 9 (smallest); pigz's default is 6
  int threads = 0;                        ///< compressing threads; 0 = all hardware threads
  std::size_t block_bytes = 256 * 1024;   ///< input bytes per block (at least 32 KiB)
  /// Throws ValueError naming the field for a level outside 0..9, negative threads or a block
  /// smaller than 32 KiB.
  void validate() const;
};

/// Fills @p dst with @p length bytes of the input starting at byte @p offset. Called from several
/// threads at once, for overlapping ranges (a block and the 32 KiB dictionary before it).
using GzipSource = std::function<void(std::uint64_t offset, std::size_t length, std::uint8_t* dst)>;
/// Receives the compressed stream in order, from the calling thread only.
using GzipSink = std::function<void(const std::uint8_t* data, std::size_t length)>;

/// Compresses @p total bytes drawn from @p source into one gzip member passed to @p sink. At most
/// a few blocks per thread are held in memory at a time. Exceptions from @p source or @p sink are
/// rethrown here after every thread stopped. Throws ValueError for bad options, IoError if zlib
/// fails.
void gzip_parallel(std::uint64_t total, const GzipSource& source, const GzipSink& sink,
                   const GzipOptions& options = {});

/// gzip_parallel() of a buffer, returned as a string (tests and small payloads).
std::string gzip_compress(std::string_view data, const GzipOptions& options = {});

}  // namespace tomograd::io
