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

TEST_CASE("lumbar check and export-png on a synthetic RSNA-layout cohort", "[cli][lumbar]") {
  test::TempDir tmp;
  auto r = run_command(shell_quote(TOMOGRAD_APP) + " -q synth lumbar --out " + shell_quote((tmp / "rsna").string()) +
                       " --studies 2 --scale 0.125 --seed 3");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  r = run_command(shell_quote(TOMOGRAD_LUMBAR_APP) + " check --data " + shell_quote((tmp / "rsna").string()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("2 labelled studies, 6 series") && Catch::Contains("no problems found"));
  r = run_command(shell_quote(TOMOGRAD_LUMBAR_APP) + " -q export-png " + shell_quote((tmp / "rsna").string()) +
                  " --out " + shell_quote((tmp / "png").string()) + " --annotate");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::size_t pngs = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp / "png")) pngs += e.path().extension() == ".png";
  CHECK(pngs > 30);
  CHECK_THAT(r.out, Catch::Contains("wrote " + std::to_string(pngs) + " PNG files"));
  // A coordinate moved outside its image is named with its line.
  const auto coords = tmp / "rsna" / "train_label_coordinates.csv";
  std::string text = read_file(coords);
  const auto second_line = text.find('\n') + 1;
  const auto end = text.find('\n', second_line);
  std::string row = text.substr(second_line, end - second_line);
  row = row.substr(0, row.rfind(',', row.rfind(',') - 1)) + ",9999,5";
  write_file_atomic(coords, text.substr(0, second_line) + row + text.substr(end));
  r = run_command(shell_quote(TOMOGRAD_LUMBAR_APP) + " check --data " + shell_quote((tmp / "rsna").string()));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("train_label_coordinates.csv line 2") && Catch::Contains("outside the"));
}
