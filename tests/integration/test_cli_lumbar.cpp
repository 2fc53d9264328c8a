// Runs `lumbar score`: text and JSON output, exit codes, error messages.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/tasks/lumbar.hpp"

using namespace tomograd;
using test::run_command;
using test::shell_quote;

TEST_CASE("lumbar score prints the metric and its four parts", "[cli][lumbar]") {
  test::TempDir tmp;
  std::string header = "study_id", row = "7";
  for (const auto& c : tasks::lumbar::label_columns()) {
    header += "," + c;
    row += c.rfind("spinal", 0) == 0 ? ",Moderate" : ",";  // the five spinal levels labelled
  }
  write_file_atomic(tmp / "train.csv", header + "\n" + row + "\n");
  std::string sub = "row_id,normal_mild,moderate,severe\n";
  for (const char* l : {"l1_l2", "l2_l3", "l3_l4", "l4_l5", "l5_s1"}) {
    sub += std::string("7_spinal_canal_stenosis_") + l + ",0.25,0.5,0.25\n";
  }
  write_file_atomic(tmp / "sub.csv", sub);
  const std::string base = shell_quote(TOMOGRAD_LUMBAR_APP) + " score --solution " +
                           shell_quote((tmp / "train.csv").string()) + " --submission " +
                           shell_quote((tmp / "sub.csv").string());
  auto r = run_command(base + " --json");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  // Only spinal rows: the other condition terms are undefined, and so is the score.
  CHECK(j["spinal"].get<double>() == Approx(-std::log(0.5)));
  CHECK(j["any_severe_spinal"].get<double>() == Approx(-std::log(0.75)));
  CHECK(j["foraminal"].is_null());
  CHECK(j["score"].is_null());
  r = run_command(base);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("spinal") && Catch::Contains("0.693147") && Catch::Contains("undefined"));

  write_file_atomic(tmp / "sub.csv", "row_id,normal_mild,moderate\n");
  r = run_command(base);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("sub.csv") && Catch::Contains("missing column 'severe'"));
  r = run_command(shell_quote(TOMOGRAD_LUMBAR_APP) + " score --solution x.csv");
  CHECK(r.exit_code == 2);
}
