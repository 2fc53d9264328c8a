#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/core/window.hpp"

using namespace tomograd;
namespace fs = std::filesystem;

TEST_CASE("atomic writes never clobber and leave no temp files", "[core]") {
  test::TempDir tmp;
  fs::path f = tmp / "out.txt";
  write_file_atomic(f, "one", Overwrite::kNever);
  CHECK(read_file(f) == "one");
  CHECK_THROWS_WITH(write_file_atomic(f, "two", Overwrite::kNever),
                    Catch::Contains("refusing to overwrite"));
  CHECK(read_file(f) == "one");
  write_file_atomic(f, "three", Overwrite::kAllow);
  CHECK(read_file(f) == "three");
  {
    AtomicFile a(tmp / "x.nii.gz");
    CHECK(a.temp_path().string().size() > 7);
    CHECK(a.temp_path().string().substr(a.temp_path().string().size() - 7) == ".nii.gz");
    std::ofstream(a.temp_path()) << "partial";
    // not committed: destroyed with the object
  }
  int n = 0;
  for (auto& e : fs::directory_iterator(tmp.path())) {
    (void)e;
    ++n;
  }
  CHECK(n == 1);
  CHECK_THROWS_AS(write_file_atomic(tmp / "nofolder" / "x.txt", "x"), IoError);
}

TEST_CASE("parallel_for visits each index once and propagates errors", "[core]") {
  std::vector<std::atomic<int>> seen(1000);
  parallel_for(seen.size(), 4, [&](std::size_t i) { seen[i]++; });
  for (auto& s : seen) REQUIRE(s == 1);
  CHECK_THROWS_WITH(parallel_for(100, 3,
                                 [](std::size_t i) {
                                   if (i == 42) throw IoError("bad 42");
                                 }),
                    "bad 42");
}

TEST_CASE("progress bar renders count, percentage, rate and ETA", "[core]") {
  ProgressBar bar(40, "reading", "slices");
  bar.tick(10);
  std::string line = bar.render();
  CHECK_THAT(line, Catch::StartsWith("reading ["));
  CHECK_THAT(line, Catch::Contains("10/40 25%"));
  CHECK_THAT(line, Catch::Contains("slices/s"));
  CHECK_THAT(line, Catch::Contains("ETA"));
  CHECK(bar.count() == 10);
  CHECK(format_duration(65) == "01:05");
  CHECK(format_duration(3725) == "1:02:05");
}

TEST_CASE("windows parse presets and centre,width", "[core]") {
  CHECK(parse_window("brain").center == 40);
  CHECK(parse_window("bone").width == 2800);
  auto w = parse_window("-600,1500");
  CHECK(w.center == -600);
  CHECK(w.low() == -1350);
  CHECK_THROWS_WITH(parse_window("brian"), Catch::Contains("subdural"));
  CHECK_THROWS_AS(parse_window("40,0"), ValueError);
  CHECK_THROWS_AS(parse_window("40,"), ValueError);
}

TEST_CASE("derived seeds are reproducible and distinct", "[core]") {
  CHECK(derive_seed(1, 0) == derive_seed(1, 0));
  CHECK(derive_seed(1, 0) != derive_seed(1, 1));
  CHECK(derive_seed(1, 0) != derive_seed(2, 0));
}

TEST_CASE("physical cores: the hardware threads of one core count once", "[core]") {
  // Two packages of two cores with two hardware threads each (SMT): 8 CPUs, 4 cores.
  CHECK(count_physical_cores({{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 0}, {0, 1}, {1, 0}, {1, 1}}) == 4);
  // No SMT: every CPU a core.
  CHECK(count_physical_cores({{0, 0}, {0, 1}}) == 2);
  CHECK(count_physical_cores({}) == 1);
  // This process: between 1 and the CPUs it may run on.
  CHECK(physical_cores() >= 1);
  CHECK(physical_cores() <= hardware_threads());
}
