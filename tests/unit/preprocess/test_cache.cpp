// The preprocessed-study cache: keys, reuse, corrupt and partial entries, resume, failures.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <fstream>
#include <thread>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/io/nifti.hpp"
#include "tomograd/preprocess/cache.hpp"
#include "tomograd/preprocess/phantom.hpp"

using namespace tomograd;
using namespace tomograd::preprocess;
namespace fs = std::filesystem;

namespace {

PreprocessOptions small_options() {
  PreprocessOptions o;
  o.height = 24;
  o.width = 24;
  return o;
}

fs::path write_phantom(const fs::path& path, uint64_t seed) {
  HeadPhantomOptions o;
  o.depth = 8;
  o.rows = 48;
  o.cols = 48;
  o.spacing_mm = {14.0, 4.6, 4.6};
  o.seed = seed;
  io::write_nifti(make_head_phantom(o).ct, path);
  return path;
}

}  // namespace

TEST_CASE("FNV-1a reference values", "[preprocess]") {
  // Test vectors of the FNV specification (draft-eastlake-fnv).
  CHECK(fnv1a_64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a_64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a_64("foobar") == 0x85944171f73967e8ULL);
  CHECK(fnv1a_128_hex("") == "6c62272e07bb014262b821756295c58d");
  CHECK(fnv1a_128_hex("a") == "d228cb696f1a8caf78912b704e4a8964");
}

TEST_CASE("cache keys change with the options and with the input files", "[preprocess]") {
  test::TempDir tmp;
  const fs::path a = write_phantom(tmp / "a.nii.gz", 1);
  PreprocessCache cache(tmp / "cache", small_options());
  const std::string k = cache.key(a);
  CHECK(k.size() == 32);
  CHECK(cache.key(a) == k);
  CHECK(cache.key(a, "0") != k);
  PreprocessOptions other = small_options();
  other.brain.margin_mm = 1.0;
  CHECK(PreprocessCache(tmp / "cache", other).key(a) != k);
  // Rewriting the file (new size or time) changes the key.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write_phantom(tmp / "b.nii.gz", 2);
  fs::rename(tmp / "b.nii.gz", a);
  CHECK(cache.key(a) != k);
  CHECK_THROWS_WITH(cache.key(tmp / "missing.nii.gz"), Catch::Contains("does not exist"));
}

TEST_CASE("cache: build, reuse, rebuild corrupt and partial entries", "[preprocess]") {
  test::TempDir tmp;
  const fs::path a = write_phantom(tmp / "a.nii.gz", 1);
  PreprocessCache cache(tmp / "cache", small_options());
  CacheStatus st;
  PreprocessedStudy first = cache.get_or_build(a, "", &st);
  CHECK(st == CacheStatus::kBuilt);
  REQUIRE(first.data.sizes() == torch::IntArrayRef({3, 8, 24, 24}));
  PreprocessedStudy again = cache.get_or_build(a, "", &st);
  CHECK(st == CacheStatus::kReused);
  CHECK(torch::equal(first.data, again.data));
  CHECK(torch::equal(first.mask, again.mask));
  CHECK(again.quality.kept == first.quality.kept);
  CHECK(again.spacing_mm[1] == Approx(first.spacing_mm[1]));
  const std::string k = cache.key(a);
  // Corrupt one byte of the data: the checksum catches it.
  {
    std::fstream f(tmp / "cache" / (k + ".bin"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  PreprocessedStudy out;
  std::string why;
  CHECK_FALSE(cache.load(k, out, &why));
  CHECK_THAT(why, Catch::Contains("checksum"));
  cache.get_or_build(a, "", &st);
  CHECK(st == CacheStatus::kRebuilt);
  CHECK(cache.load(k, out));
  CHECK(torch::equal(out.data, first.data));
  // Truncated data, then a missing header (an interrupted write).
  fs::resize_file(tmp / "cache" / (k + ".bin"), 10);
  CHECK_FALSE(cache.load(k, out, &why));
  CHECK_THAT(why, Catch::Contains("bytes"));
  cache.get_or_build(a, "", &st);
  CHECK(st == CacheStatus::kRebuilt);
  fs::remove(tmp / "cache" / (k + ".json"));
  CHECK_FALSE(cache.load(k, out, &why));
  CHECK_THAT(why, Catch::Contains("partial"));
  cache.get_or_build(a, "", &st);
  CHECK(st == CacheStatus::kRebuilt);
  write_file_atomic(tmp / "cache" / (k + ".json"), "{not json", Overwrite::kAllow);
  CHECK_FALSE(cache.load(k, out, &why));
  CHECK_THAT(why, Catch::Contains("unreadable header"));
}

TEST_CASE("cache: build_all resumes and reports failures", "[preprocess]") {
  test::TempDir tmp;
  write_phantom(tmp / "a.nii.gz", 1);
  write_phantom(tmp / "b.nii.gz", 2);
  io::write_nifti(Volume(torch::full({3, 16, 16}, 500.0f), {5, 1, 1}), tmp / "mr.nii.gz");
  write_file_atomic(tmp / "manifest.csv", "patient_id,path\nP1,a.nii.gz\nP2,b.nii.gz\nP3,mr.nii.gz\nP4,gone.nii.gz\n");
  auto inputs = read_manifest(tmp / "manifest.csv");
  REQUIRE(inputs.size() == 4);
  CHECK(inputs[0].path == tmp / "a.nii.gz");
  PreprocessCache cache(tmp / "cache", small_options());
  cache.get_or_build(inputs[0].path);  // an earlier, interrupted run got this far
  CacheSummary s = cache.build_all(inputs, 2);
  CHECK(s.reused == 1);
  CHECK(s.built == 1);
  CHECK(s.failed == 2);
  REQUIRE(s.failures.size() == 2);
  CHECK_THAT(s.failures[0].second, Catch::Contains("CT in HU"));
  CHECK_THAT(s.failures[1].second, Catch::Contains("does not exist"));
  CHECK(s.to_string() == "4 studies: 1 built, 1 reused, 0 rebuilt, 2 failed");
  CsvTable index = CsvTable::read(tmp / "cache" / "index.csv");
  REQUIRE(index.num_rows() == 4);
  CHECK(index.strings("status") == std::vector<std::string>{"reused", "built", "failed", "failed"});
  CHECK(index.at(0, index.column_index("key")) == cache.key(inputs[0].path));
  CacheSummary second = cache.build_all(inputs, 1);
  CHECK(second.reused == 2);
  CHECK(second.built == 0);
}
