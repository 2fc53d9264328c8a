// The report model (Markdown, HTML, JSON, files), the evaluation report built on it, and the
// training-curve chart whose samples/s sit on their own axis.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <sstream>

#include "support/eval_data.hpp"
#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/eval/report.hpp"
#include "tomograd/eval/report_model.hpp"
#include "tomograd/eval/summary.hpp"
#include "tomograd/eval/svg_plot.hpp"

using namespace tomograd;
using namespace tomograd::eval;
namespace fs = std::filesystem;
using Catch::Contains;

namespace {

Report sample_report() {
  Report r;
  r.title = "A <small> report";
  r.summary = "The model scored **0.81** on `test`.";
  r.meta = {"Split: **test**"};
  r.links = {{"TensorBoard", "../tensorboard/"}};
  ReportSection& s = r.section("Scores & more");
  s.paragraph("a < b").note("method note");
  ReportTable t{{"name", "value"}, {}, {}, 1, "two rows"};
  t.add({"alpha|beta", "1.5"}).add({"total", "3"}, true);
  s.table(t);
  // "Man" is base64's textbook example: TWFu.
  s.figure({"chart", "Chart", "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>", "", "a caption"})
      .figure({"image", "Image", "", "Man", ""});
  s.list({"one", "two"});
  return r;
}

// The y pixel coordinates of the polyline drawn in @p color.
std::vector<double> polyline_ys(const std::string& svg, const std::string& color) {
  std::vector<double> ys;
  std::regex line("<polyline fill=\"none\" stroke=\"" + color + "\"[^>]* points=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), line); it != std::sregex_iterator(); ++it) {
    std::istringstream pts((*it)[1].str());
    std::string xy;
    while (pts >> xy) ys.push_back(std::stod(xy.substr(xy.find(',') + 1)));
  }
  return ys;
}

}  // namespace

TEST_CASE("a report as Markdown: title, summary, links, tables with alignment, figures as files", "[eval]") {
  const std::string md = to_markdown(sample_report());
  CHECK_THAT(md, Catch::StartsWith("# A <small> report\n\nThe model scored **0.81** on `test`.\n\n- Split: **test**\n\n"
                                   "- [TensorBoard](../tensorboard/)\n\n## Scores & more\n\na < b\n\n*method note*\n\n"));
  CHECK_THAT(md, Contains("| name | value |\n|---|---:|\n| alpha\\|beta | 1.5 |\n| **total** | **3** |\n\ntwo rows\n"));
  CHECK_THAT(md, Contains("![Chart](plots/chart.svg)\n\n*Chart.* a caption\n") && Contains("![Image](plots/image.png)"));
  CHECK_THAT(md, Contains("- one\n- two\n"));
}

TEST_CASE("a report as HTML: escaped text, inline marks, figures side by side, PNG inline", "[eval]") {
  const std::string html = to_html(sample_report());
  CHECK_THAT(html, Contains("<title>A &lt;small&gt; report</title>") && Contains("<h1>A &lt;small&gt; report</h1>"));
  CHECK_THAT(html, Contains("<p class=\"summary\">The model scored <b>0.81</b> on <code>test</code>.</p>"));
  CHECK_THAT(html, Contains("<a href=\"../tensorboard/\">TensorBoard</a>"));
  CHECK_THAT(html, Contains("<section id=\"scores-more\">") && Contains("<p>a &lt; b</p>"));
  CHECK_THAT(html, Contains("<tr><td class=\"t\">alpha|beta</td><td>1.5</td></tr>") &&
                       Contains("<tr class=\"strong\"><td class=\"t\">total</td>"));
  // Both figures in one flex row, closed before the list that follows them.
  CHECK_THAT(html, Contains("<div class=\"figures\">\n<figure id=\"chart\">") &&
                       Contains("src=\"data:image/png;base64,TWFu\">\n</figure>\n</div>\n<ul>"));
  CHECK(html.find("<script") == std::string::npos);
  // An unclosed mark is closed, so the page stays well formed.
  Report r;
  r.title = "t";
  r.summary = "**open `code";
  CHECK_THAT(to_html(r), Contains("<b>open <code>code</code></b>"));
}

TEST_CASE("a report as JSON names figures by file and keeps table structure", "[eval]") {
  const auto j = to_json(sample_report());
  CHECK(j["title"] == "A <small> report");
  CHECK(j["links"][0]["href"] == "../tensorboard/");
  const auto& blocks = j["sections"][0]["blocks"];
  REQUIRE(blocks.size() == 6);
  CHECK(blocks[0]["type"] == "paragraph");
  CHECK(blocks[1]["type"] == "note");
  CHECK(blocks[2]["rows"][0][0] == "alpha|beta");
  CHECK(blocks[2]["strong"] == std::vector<bool>{false, true});
  CHECK(blocks[3]["file"] == "plots/chart.svg");
  CHECK(blocks[4]["file"] == "plots/image.png");
  CHECK(j["sections"][0]["id"] == "scores-more");
}

TEST_CASE("write_report_files writes figures and formats atomically and refuses to overwrite", "[eval]") {
  test::TempDir tmp;
  ReportWriteOptions o;
  o.formats = {ReportFormat::kMarkdown, ReportFormat::kHtml, ReportFormat::kJson};
  const auto files = write_report_files(tmp / "out", sample_report(), o);
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.lexically_relative(tmp / "out").generic_string());
  CHECK(names == std::vector<std::string>{"plots/chart.svg", "plots/image.png", "report.md", "report.html", "report.json"});
  CHECK(read_file(tmp / "out" / "plots" / "image.png") == "Man");
  CHECK_THAT(read_file(tmp / "out" / "plots" / "chart.svg"), Catch::StartsWith("<?xml"));
  CHECK_THROWS_WITH(write_report_files(tmp / "out", sample_report(), o), Contains("refusing to overwrite") &&
                                                                           Contains("chart.svg"));
  o.overwrite = Overwrite::kAllow;
  CHECK_NOTHROW(write_report_files(tmp / "out", sample_report(), o));

  Report bad = sample_report();
  bad.sections[0].figure({"chart", "again", "<svg/>", "", ""});
  CHECK_THROWS_WITH(write_report_files(tmp / "bad", bad, o), Contains("two figures are named 'chart'"));
  bad.sections[0].blocks.back().figure = {"empty", "no content", "", "", ""};
  CHECK_THROWS_WITH(write_report_files(tmp / "bad", bad, o), Contains("'empty' needs exactly one of svg and png"));
  CHECK_FALSE(fs::exists(tmp / "bad"));
  ReportTable t{{"a", "b"}, {}, {}, 1, ""};
  CHECK_THROWS_WITH(t.add({"only one"}), Contains("a row has 1 cells, the header 2"));
}

TEST_CASE("training curves: samples/s on its own right axis, metrics keep the 0-1 range", "[eval]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "history.csv", "epoch,train_loss,val_loss,val_auc,lr,samples_per_s,data_wait\n"
                                         "1,0.9,1.0,0.60,0.001,480,0.10\n2,0.6,0.8,0.70,0.001,520,0.05\n"
                                         "3,0.4,0.7,0.80,0.0005,505,0.08\n");
  auto plots = report_plots(evaluate(test::binary_evaluation_data("test"), test::fast_evaluation(0)), tmp / "history.csv");
  REQUIRE(plots.size() >= 2);
  REQUIRE(plots[1].name == "training_metrics");
  const std::string& svg = plots[1].svg;
  CHECK_THAT(svg, Contains("samples_per_s (right axis)") && Contains(">samples/s</text>") && Contains("rotate(90)"));
  // val_auc (first colour) rises by 0.2 on a 0.05-0.8 axis (about 80 of 312 pixels); sharing an
  // axis with 520 samples/s it rose by less than one pixel.
  auto auc = polyline_ys(svg, "#0072B2");
  REQUIRE(auc.size() == 3);
  CHECK(auc[0] - auc[2] > 60);
  // samples/s (second colour) spans its own axis.
  auto sps = polyline_ys(svg, "#E69F00");
  REQUIRE(sps.size() == 3);
  CHECK(sps[0] - sps[1] > 150);
  // The left axis stays a metric axis: no tick label in the hundreds.
  CHECK(svg.find("text-anchor=\"end\" fill=\"#333\">500<") == std::string::npos);
}

TEST_CASE("every evaluation report opens with a plain-language summary and links TensorBoard", "[eval]") {
  const Evaluation e = evaluate(test::binary_evaluation_data("test"), test::fast_evaluation(40));
  const std::string s = plain_summary(e);
  const auto& auc = e.metrics.at("auc");
  CHECK_THAT(s, Contains("a binary classifier on the **test** split: 12 patients.") &&
                    Contains("The headline metric, AUC-ROC, is **" + format_value(auc.value) + "** (95 % confidence interval " +
                             format_value(auc.ci->low) + " to " + format_value(auc.ci->high)) &&
                    Contains("at least 0.5 (threshold: fixed)"));
  CHECK_THAT(markdown_summary(e), Contains("# Evaluation summary\n\nThis report scores a binary classifier"));
  EvaluationData slices = test::binary_evaluation_data("test");
  for (int i = 0; i < 12; ++i) slices.bootstrap_groups.push_back("P" + std::to_string(i / 4));
  CHECK_THAT(plain_summary(evaluate(slices, test::fast_evaluation(0))),
             Contains("3 patients (12 scored rows)") && Contains("without an interval"));

  test::TempDir tmp;
  fs::create_directories(tmp / "run");
  write_file_atomic(tmp / "run" / "history.csv", "epoch,train_loss,val_auc\n1,0.9,0.6\n2,0.7,0.7\n");
  ReportOptions o;
  o.history_csv = tmp / "run" / "history.csv";
  ReportFiles f = write_report(tmp / "run" / "eval" / "test", e, o);
  CHECK(read_file(f.report_html).find("tensorboard") == std::string::npos);  // no folder, no link
  fs::create_directories(tmp / "run" / "tensorboard");
  o.overwrite = Overwrite::kAllow;
  f = write_report(tmp / "run" / "eval" / "test", e, o);
  const std::string html = read_file(f.report_html);
  CHECK_THAT(html, Contains("<a href=\"../../tensorboard/\">TensorBoard logs"));
  CHECK(html.find("<p class=\"summary\">") < html.find("<section id=\"metrics\">"));
}

TEST_CASE("the evaluation report renders in headless Chromium with summary, link and right axis", "[eval]") {
  const fs::path chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) FAIL("Chromium is required for this test: install Debian's chromium (scripts/install-deps.sh)");
  test::TempDir tmp;
  fs::create_directories(tmp / "run");
  write_file_atomic(tmp / "run" / "history.csv", "epoch,train_loss,val_loss,val_auc,lr,samples_per_s,data_wait\n"
                                                 "1,0.9,1.0,0.6,0.001,480,0.1\n2,0.6,0.8,0.7,0.001,520,0.05\n"
                                                 "3,0.45,0.7,0.75,0.001,505,0.08\n4,0.4,0.72,0.78,0.0005,515,0.07\n");
  fs::create_directories(tmp / "run" / "tensorboard");
  ReportOptions o;
  o.history_csv = tmp / "run" / "history.csv";
  o.title = "Chromium check";
  const ReportFiles f = write_report(tmp / "run" / "eval", evaluate(test::binary_evaluation_data("test"), test::fast_evaluation(50)), o);
  const std::string flags = " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking"
                            " --disable-component-update --disable-sync --no-first-run --hide-scrollbars --user-data-dir=" +
                            test::shell_quote((tmp / "profile").string()) + " --window-size=1200,2400 ";
  const std::string url = test::shell_quote("file://" + f.report_html.string());
  const fs::path shot = tmp / "shot.png";
  auto r = test::run_command("timeout 120 " + chromium.string() + flags + "--screenshot=" +
                             test::shell_quote(shot.string()) + " " + url);
  INFO("chromium stderr: " << r.err);
  REQUIRE(fs::exists(shot));
  CHECK(fs::file_size(shot) > 40000);  // a blank page compresses to a few kB
  // For a person checking the look: TOMOGRAD_KEEP_SCREENSHOT=/some/file.png keeps a copy.
  if (const char* keep = std::getenv("TOMOGRAD_KEEP_SCREENSHOT")) {
    fs::copy_file(shot, keep, fs::copy_options::overwrite_existing);
  }
  auto dom = test::run_command("timeout 120 " + chromium.string() + flags + "--dump-dom " + url);
  REQUIRE(dom.exit_code == 0);
  CHECK_THAT(dom.out, Contains("This report scores a binary classifier on the <b>test</b> split: 12 patients") &&
                          Contains("href=\"../tensorboard/\"") && Contains("samples_per_s (right axis)") &&
                          Contains("Training curves: metrics") && Contains("Calibration curve"));
}
