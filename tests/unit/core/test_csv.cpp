#include <catch2/catch.hpp>
#include <cmath>

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
