// The project's seeded shuffle and bounded integers: known outputs computed by hand and by an
// independent reference (tests/unit/core/random_reference.py, MT19937-64 written in Python from
// its published definition).
#include <catch2/catch.hpp>

#include <numeric>
#include <random>
#include <vector>

#include "tomograd/core/random.hpp"

using namespace tomograd;

namespace {

/// A generator that replays a fixed list of raw outputs (for hand-computed answers).
struct Replay {
  std::vector<uint64_t> values;
  std::size_t next = 0;
  uint64_t operator()() { return values.at(next++); }
};

}  // namespace

TEST_CASE("uniform_below rejects the biased low range and reduces modulo n", "[core][random]") {
  // 2^64 mod 3 = 1 (2^64 = 4^32 and 4 = 1 mod 3), so a raw 0 is rejected; 10 mod 3 = 1.
  Replay g{{0, 10}};
  CHECK(uniform_below(g, 3) == 1);
  CHECK(g.next == 2);
  // 2^64 mod 8 = 0: nothing is rejected; 13 mod 8 = 5.
  Replay h{{13}};
  CHECK(uniform_below(h, 8) == 5);
  Replay one{{12345}};
  CHECK(uniform_below(one, 1) == 0);
}

TEST_CASE("seeded_shuffle is Fisher-Yates from the back (hand-computed)", "[core][random]") {
  // i = 4: j = 7 mod 4 = 3 (no move); i = 3: j = 7 mod 3 = 1, swap v[2], v[1] -> 0 2 1 3;
  // i = 2: j = 7 mod 2 = 1 (no move).
  std::vector<int> v{0, 1, 2, 3};
  Replay g{{7, 7, 7}};
  seeded_shuffle(v, g);
  CHECK(v == std::vector<int>{0, 2, 1, 3});
  CHECK(g.next == 3);
  // A sub-range: only [1, 4) moves. i = 3: j = 0 -> swap v[3], v[1]; i = 2: j = 1 (no move).
  std::vector<int> w{9, 1, 2, 3, 8};
  Replay h{{6, 5}};
  seeded_shuffle(w, 1, 4, h);
  CHECK(w == std::vector<int>{9, 3, 2, 1, 8});
}

TEST_CASE("seeded_shuffle with mt19937_64 matches the independent reference", "[core][random]") {
  {
    std::mt19937_64 g;  // default seed 5489: the standard fixes the 10000th output
    g.discard(9999);
    REQUIRE(g() == 9981545732273789042ULL);
  }
  std::mt19937_64 g(42);
  CHECK(g() == 13930160852258120406ULL);  // random_reference.py: "first"
  std::mt19937_64 s(42);
  std::vector<int> v(10);
  std::iota(v.begin(), v.end(), 0);
  seeded_shuffle(v, s);
  CHECK(v == std::vector<int>{1, 7, 9, 0, 3, 8, 4, 2, 5, 6});  // random_reference.py: "shuffle"
  std::mt19937_64 b(7);
  std::vector<uint64_t> draws;
  for (int k = 0; k < 5; ++k) draws.push_back(uniform_below(b, 6));
  CHECK(draws == std::vector<uint64_t>{3, 0, 0, 0, 1});  // random_reference.py: "below"
}
