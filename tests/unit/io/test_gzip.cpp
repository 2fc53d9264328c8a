// Parallel gzip (pigz-style single member): zlib's inflate, gzip(1) and Python's gzip module read
// what we write, for every size class around the block boundaries, level and thread count.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

#include "support/checks.hpp"
#include "support/fixtures.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/gzip.hpp"

using namespace tomograd;
using test::write_bytes;
using namespace tomograd::io;
namespace fs = std::filesystem;

namespace {

// Inflates exactly one gzip member with zlib (windowBits 15 + 16: gzip wrapper, CRC-32 and length
// checked by zlib) and requires that nothing follows it.
std::string gunzip_one_member(const std::string& gz) {
  z_stream s{};
  REQUIRE(inflateInit2(&s, 15 + 16) == Z_OK);
  std::string out;
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  s.avail_in = static_cast<uInt>(gz.size());
  int rc = Z_OK;
  char buf[65536];
  while (rc == Z_OK) {
    s.next_out = reinterpret_cast<Bytef*>(buf);
    s.avail_out = sizeof(buf);
    rc = inflate(&s, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - s.avail_out);
    if (rc == Z_BUF_ERROR && s.avail_in == 0) break;
  }
  const uInt left = s.avail_in;
  inflateEnd(&s);
  CHECK(rc == Z_STREAM_END);
  CHECK(left == 0);  // a single member, no trailing data
  return out;
}

// Random bytes, text-like data (compressible, long matches) or zeros.
std::string make_data(std::size_t n, int kind, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  if (kind == 0) {
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  } else if (kind == 1) {
    static const char* words[] = {"voxel ", "slice ", "hounsfield ", "window ", "series ", "\n"};
    std::string t;
    while (t.size() < n) t += words[rng() % 6];
    s = t.substr(0, n);
  }
  return s;
}

}  // namespace

TEST_CASE("parallel gzip: one member that zlib inflates to the input", "[io]") {
  const std::size_t block = 32768;  // the smallest block, so small inputs span many blocks
  const std::size_t sizes[] = {0, 1, 1000, block - 1, block, block + 1, 5 * block + 17, 300000};
  uint32_t seed = 1;
  for (std::size_t n : sizes) {
    for (int kind : {0, 1, 2}) {
      const std::string data = make_data(n, kind, seed++);
      for (int level : {0, 1, 6, 9}) {
        std::string first;
        for (int threads : {1, 2, 3}) {
          INFO("size " << n << " kind " << kind << " level " << level << " threads " << threads);
          GzipOptions o;
          o.level = level;
          o.threads = threads;
          o.block_bytes = block;
          const std::string gz = gzip_compress(data, o);
          REQUIRE(gz.size() >= 18);
          CHECK(static_cast<unsigned char>(gz[0]) == 0x1f);
          CHECK(static_cast<unsigned char>(gz[1]) == 0x8b);
          CHECK(gunzip_one_member(gz) == data);
          // The stream depends on the data and the options, never on the thread count.
          if (threads == 1) first = gz;
          else CHECK(gz == first);
        }
      }
    }
  }
}

TEST_CASE("parallel gzip: compresses like zlib and gzip(1) / Python read it", "[io]") {
  test::TempDir tmp;
  const std::string data = make_data(1000000, 1, 7);
  GzipOptions o;
  o.threads = 2;
  o.block_bytes = 65536;
  const std::string gz = gzip_compress(data, o);
  // Text this repetitive shrinks a lot; a broken block join or missing dictionary would still be
  // read back correctly above, so check the ratio against single-threaded zlib at the same level.
  uLongf bound = compressBound(static_cast<uLong>(data.size()));
  std::string ref(bound, '\0');
  REQUIRE(compress2(reinterpret_cast<Bytef*>(ref.data()), &bound, reinterpret_cast<const Bytef*>(data.data()),
                    static_cast<uLong>(data.size()), 6) == Z_OK);
  INFO("ours " << gz.size() << " bytes, zlib " << bound << " bytes");
  CHECK(static_cast<double>(gz.size()) <= 1.01 * static_cast<double>(bound) + 64);

  const fs::path file = tmp / "data.gz";
  const fs::path plain = tmp / "data";
  write_bytes(file, gz);
  write_bytes(plain, data);
  auto r = test::run_command("gzip -t " + test::shell_quote(file.string()));
  CHECK(r.exit_code == 0);
  // In a subshell: run_command redirects stdin of the (last) command from /dev/null.
  r = test::run_command("(gzip -dc " + test::shell_quote(file.string()) + " | cmp - " +
                        test::shell_quote(plain.string()) + ")");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  r = test::run_command("/usr/bin/python3 -c 'import gzip, sys; d = gzip.open(sys.argv[1]).read(); "
                        "sys.exit(0 if d == open(sys.argv[2], \"rb\").read() else 1)' " +
                        test::shell_quote(file.string()) + " " + test::shell_quote(plain.string()));
  INFO(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("parallel gzip: errors from the source and the sink reach the caller", "[io]") {
  GzipOptions o;
  o.threads = 3;
  o.block_bytes = 32768;
  const uint64_t total = 40 * 32768;
  auto bad_source = [](uint64_t offset, std::size_t length, uint8_t* dst) {
    if (offset >= 20 * 32768) throw IoError("source failed at " + std::to_string(offset));
    std::fill(dst, dst + length, 7);
  };
  std::size_t received = 0;
  auto sink = [&](const uint8_t*, std::size_t n) { received += n; };
  CHECK_THROWS_WITH(gzip_parallel(total, bad_source, sink, o), Catch::Contains("source failed"));

  auto good_source = [](uint64_t, std::size_t length, uint8_t* dst) { std::fill(dst, dst + length, 1); };
  int calls = 0;
  auto bad_sink = [&](const uint8_t*, std::size_t) {
    if (++calls == 5) throw IoError("disk full");
  };
  CHECK_THROWS_WITH(gzip_parallel(total, good_source, bad_sink, o), Catch::Contains("disk full"));

  GzipOptions bad;
  bad.level = 10;
  CHECK_THROWS_AS(gzip_compress("x", bad), ValueError);
  bad = {};
  bad.threads = -1;
  CHECK_THROWS_AS(gzip_compress("x", bad), ValueError);
  bad = {};
  bad.block_bytes = 1000;
  CHECK_THROWS_WITH(gzip_compress("x", bad), Catch::Contains("32768"));
}
