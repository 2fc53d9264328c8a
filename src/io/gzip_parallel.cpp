// Parallel gzip in the manner of pigz (one member, blocks deflated on worker threads, joined CRC).
#include <zlib.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tomograd/core/error.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/io/gzip.hpp"

namespace tomograd::io {

namespace {

// Deflate's window: a block primed with this much preceding input matches back into it exactly
// as a single-threaded stream would (RFC 1951: distances go back at most 32768 bytes).
constexpr std::size_t kWindow = 32768;

struct Deflater {
  z_stream s{};
  bool ready = false;
  explicit Deflater(int level) {
    // Negative window bits: raw deflate, no zlib header; the gzip wrapper is written by hand
    // because the stream is assembled from separately compressed pieces.
    if (deflateInit2(&s, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw IoError("gzip: zlib deflateInit2 failed (level " + std::to_string(level) + ")");
    }
    ready = true;
  }
  ~Deflater() {
    if (ready) deflateEnd(&s);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
};

struct Block {
  std::vector<std::uint8_t> out;
  uLong crc = 0;
  std::size_t length = 0;
};

// Compresses input block @p index (of @p count) into @p block. Every block but the last ends with
// a sync flush (byte-aligned, no final bit) so the pieces concatenate into one deflate stream.
void compress_block(Deflater& d, std::size_t index, std::size_t count, std::uint64_t total,
                    std::size_t block_bytes, const GzipSource& source, std::vector<std::uint8_t>& in,
                    Block& block) {
  const std::uint64_t start = static_cast<std::uint64_t>(index) * block_bytes;
  const std::size_t length = static_cast<std::size_t>(std::min<std::uint64_t>(block_bytes, total - start));
  const std::size_t dict = index > 0 ? static_cast<std::size_t>(std::min<std::uint64_t>(kWindow, start)) : 0;
  in.resize(dict + length);
  if (dict + length > 0) source(start - dict, dict + length, in.data());
  block.length = length;
  block.crc = crc32(0L, in.data() + dict, static_cast<uInt>(length));

  z_stream& s = d.s;
  if (deflateReset(&s) != Z_OK) throw IoError("gzip: zlib deflateReset failed");
  if (dict > 0 && deflateSetDictionary(&s, in.data(), static_cast<uInt>(dict)) != Z_OK) {
    throw IoError("gzip: zlib deflateSetDictionary failed");
  }
  const bool last = index + 1 == count;
  // deflateBound() covers Z_FINISH; a sync flush adds at most an empty stored block and a few bits.
  block.out.resize(deflateBound(&s, static_cast<uLong>(length)) + 16);
  s.next_in = in.data() + dict;
  s.avail_in = static_cast<uInt>(length);
  std::size_t produced = 0;
  for (;;) {
    if (produced == block.out.size()) block.out.resize(block.out.size() * 2);
    s.next_out = block.out.data() + produced;
    s.avail_out = static_cast<uInt>(block.out.size() - produced);
    const int rc = deflate(&s, last ? Z_FINISH : Z_SYNC_FLUSH);
    produced = block.out.size() - s.avail_out;
    if (rc == Z_STREAM_ERROR) throw IoError("gzip: zlib deflate failed");
    if (last ? rc == Z_STREAM_END : (s.avail_in == 0 && s.avail_out > 0)) break;
  }
  block.out.resize(produced);
}

void put_le32(std::uint8_t* p, uLong v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>((v >> (8 * i)) & 0xff);
}

/// The input cut into blocks, compressed independently.
struct BlockJob {
  std::uint64_t total;
  std::size_t block_bytes, count;
  const GzipSource& source;
  int level;

  void compress(Deflater& d, std::size_t index, std::vector<std::uint8_t>& in, Block& block) const {
    compress_block(d, index, count, total, block_bytes, source, in, block);
  }
};

using BlockSink = std::function<void(const Block&)>;

/// Every block on this thread, in order.
void compress_in_order(const BlockJob& job, const BlockSink& emit) {
  Deflater d(job.level);
  std::vector<std::uint8_t> in;
  Block b;
  for (std::size_t i = 0; i < job.count; ++i) {
    job.compress(d, i, in, b);
    emit(b);
  }
}

/// Workers take blocks in order and compress them; this thread emits them in order. A worker
/// does not run more than `window` blocks ahead of the writer, which bounds memory.
void compress_on_workers(const BlockJob& job, std::size_t workers, const BlockSink& emit) {
  const std::size_t count = job.count, window = 4 * workers;
  std::vector<Block> blocks(count);
  std::vector<char> done(count, 0);
  std::mutex m;
  std::condition_variable cv_done, cv_room;
  std::size_t next = 0, written = 0;
  bool failed = false;
  std::exception_ptr error;
  auto fail = [&](std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(m);
    if (!error) error = e;
    failed = true;
    cv_done.notify_all();
    cv_room.notify_all();
  };
  auto work = [&] {
    try {
      Deflater d(job.level);
      std::vector<std::uint8_t> in;
      for (;;) {
        std::size_t i;
        {
          std::unique_lock<std::mutex> lock(m);
          cv_room.wait(lock, [&] { return failed || next >= count || next < written + window; });
          if (failed || next >= count) return;
          i = next++;
        }
        Block b;
        job.compress(d, i, in, b);
        std::lock_guard<std::mutex> lock(m);
        blocks[i] = std::move(b);
        done[i] = 1;
        cv_done.notify_all();
      }
    } catch (...) {
      fail(std::current_exception());
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers);
  for (std::size_t t = 0; t < workers; ++t) pool.emplace_back(work);
  try {
    for (std::size_t i = 0; i < count; ++i) {
      Block b;
      {
        std::unique_lock<std::mutex> lock(m);
        cv_done.wait(lock, [&] { return failed || done[i]; });
        if (failed) break;
        b = std::move(blocks[i]);
      }
      emit(b);
      std::lock_guard<std::mutex> lock(m);
      written = i + 1;
      cv_room.notify_all();
    }
  } catch (...) {
    fail(std::current_exception());
  }
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

void GzipOptions::validate() const {
  if (level < 0 || level > 9) {
    throw ValueError("gzip level must be 0 (stored) to 9, got " + std::to_string(level));
  }
  if (threads < 0) throw ValueError("gzip threads must be >= 0 (0 = all cores), got " + std::to_string(threads));
  if (block_bytes < kWindow) {
    throw ValueError("gzip block size must be at least 32768 bytes, got " + std::to_string(block_bytes));
  }
}

void gzip_parallel(std::uint64_t total, const GzipSource& source, const GzipSink& sink,
                   const GzipOptions& options) {
  options.validate();
  const std::size_t block_bytes = options.block_bytes;
  // An empty input still needs one (empty, final) deflate block.
  const std::size_t count = std::max<std::size_t>(1, static_cast<std::size_t>((total + block_bytes - 1) / block_bytes));

  // RFC 1952 member header: magic, deflate, no flags, no mtime (reproducible output), extra flags
  // 2 = maximum compression / 4 = fastest as gzip(1) sets them, OS 3 = Unix.
  const std::uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0,
                                   static_cast<std::uint8_t>(options.level == 9 ? 2 : options.level == 1 ? 4 : 0), 3};
  sink(header, sizeof(header));

  uLong crc = crc32(0L, Z_NULL, 0);
  auto emit = [&](const Block& b) {
    if (!b.out.empty()) sink(b.out.data(), b.out.size());
    crc = crc32_combine(crc, b.crc, static_cast<z_off_t>(b.length));
  };

  std::size_t workers = options.threads <= 0 ? static_cast<std::size_t>(hardware_threads())
                                             : static_cast<std::size_t>(options.threads);
  workers = std::min(workers, count);
  const BlockJob job{total, block_bytes, count, source, options.level};
  if (workers <= 1) compress_in_order(job, emit);
  else compress_on_workers(job, workers, emit);

  // RFC 1952 trailer: CRC-32 and the input size modulo 2^32, little-endian.
  std::uint8_t trailer[8];
  put_le32(trailer, crc);
  put_le32(trailer + 4, static_cast<uLong>(total & 0xffffffffu));
  sink(trailer, sizeof(trailer));
}

std::string gzip_compress(std::string_view data, const GzipOptions& options) {
  std::string out;
  gzip_parallel(
      data.size(),
      [&](std::uint64_t offset, std::size_t length, std::uint8_t* dst) {
        std::memcpy(dst, data.data() + offset, length);
      },
      [&](const std::uint8_t* p, std::size_t n) { out.append(reinterpret_cast<const char*>(p), n); },
      options);
  return out;
}

}  // namespace tomograd::io
