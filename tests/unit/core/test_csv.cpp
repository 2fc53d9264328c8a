#include <catch2/catch.hpp>
#include <cmath>

#include <filesystem>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"

using namespace tomograd;

TEST_CASE("CSV parses quotes, CRLF and blank lines", "[core]") {
  auto t = CsvTable::parse("id,name,value\r\n1,\"a, b\",2.5\r\n\r\n2,\"say \"\"hi\"\"\nthere\",-3\n", "x.csv");
  REQUIRE(t.num_rows() == 2);
  CHECK(t.at(0, 1) == "a, b");
  CHECK(t.at(1, 1) == "say \"hi\"\nthere");
  CHECK(t.numbers("value") == std::vector<double>{2.5, -3});
  CHECK(t.line_of(1) == 4);
  auto round = CsvTable::parse(t.to_string(), "y.csv");
  CHECK(round.at(1, 1) == t.at(1, 1));
}

TEST_CASE("CSV errors name the file, line and column", "[core]") {
  CHECK_THROWS_WITH(CsvTable::parse("", "e.csv"), Catch::Contains("e.csv") && Catch::Contains("empty"));
  CHECK_THROWS_WITH(CsvTable::parse("a,b\n1,2\n3\n", "f.csv"), Catch::Contains("f.csv: line 3"));
  CHECK_THROWS_WITH(CsvTable::parse("a,a\n", "g.csv"), Catch::Contains("duplicate column 'a'"));
  auto t = CsvTable::parse("id,v\n1,2\n2,abc\n3,nan\n4,\n", "h.csv");
  CHECK_THROWS_WITH(t.numbers("v"), Catch::Contains("h.csv: line 3, column 'v'") && Catch::Contains("'abc'"));
  CHECK_THROWS_WITH(t.column_index("bmd"), Catch::Contains("missing column 'bmd'") && Catch::Contains("id, v"));
  auto m = CsvTable::parse("id,v\n1,2\n2,\n", "m.csv");
  auto v = m.numbers("v", true);
  CHECK(v[0] == 2);
  CHECK(std::isnan(v[1]));
  CHECK_THROWS_AS(m.numbers("v"), CsvError);
}

TEST_CASE("CSV rows wider than the header fail at once, and huge files before reading", "[core]") {
  // A line of 100000 commas: the error counts the fields without keeping them.
  const std::string wide = "a,b\n1,2\n" + std::string(100000, ',') + "\n";
  CHECK_THROWS_WITH(CsvTable::parse(wide, "w.csv"),
                    Catch::Contains("w.csv: line 3: 100001 fields, expected 2 as in the header"));
  CHECK_THROWS_WITH(CsvTable::parse("a,b\n1,2,3\n", "x.csv"), Catch::Contains("x.csv: line 2: 3 fields, expected 2"));
  // A sparse file just over the limit is refused from its size alone (nothing is read).
  test::TempDir tmp;
  const auto big = tmp / "big.csv";
  write_file_atomic(big, "a,b\n");
  std::filesystem::resize_file(big, CsvTable::kMaxBytes + 1);
  CHECK_THROWS_WITH(CsvTable::read(big), Catch::Contains("big.csv") && Catch::Contains("1073741825 bytes") &&
                                             Catch::Contains("at most 1024 MiB"));
}

TEST_CASE("CSV written by to_string reads back to the same table", "[core]") {
  // A one-column row holding an empty string, and a field starting with a byte order mark: the
  // writer quotes both (an empty line is a blank line to the reader, a leading BOM the file's).
  CsvTable t({"\xEF\xBB\xBFid"}, {{""}, {"\xEF\xBB\xBFx"}, {"y"}}, "t.csv");
  const CsvTable back = CsvTable::parse(t.to_string(), "back.csv");
  REQUIRE(back.num_rows() == 3);
  CHECK(back.header() == t.header());
  CHECK(back.at(0, 0).empty());
  CHECK(back.at(1, 0) == "\xEF\xBB\xBFx");
  // A quoted empty field is a row; an empty line is not.
  CHECK(CsvTable::parse("a\n\"\"\n\n", "q.csv").num_rows() == 1);
}
