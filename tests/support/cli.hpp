#pragma once
// What the CLI tests (tests/integration, target tests_cli) share: the apps under test, shell
// quoting of paths, files of the source tree, and reading what a command wrote. Header-only: the
// app paths are compile definitions of tests_cli alone (tests/CMakeLists.txt).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <string>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"

namespace tomograd::test {

/// @p path quoted for /bin/sh.
inline std::string q(const std::filesystem::path& path) { return shell_quote(path.string()); }

/// The apps under test, quoted for /bin/sh, ready to prefix a command line.
inline std::string tomograd_app() { return shell_quote(TOMOGRAD_APP); }
inline std::string bmd_app() { return shell_quote(TOMOGRAD_BMD_APP); }
inline std::string metastasis_app() { return shell_quote(TOMOGRAD_METASTASIS_APP); }
inline std::string lumbar_app() { return shell_quote(TOMOGRAD_LUMBAR_APP); }

/// A file of the source tree, e.g. source_path("configs/bmd_resnet18.yaml").
inline std::filesystem::path source_path(const std::string& relative) {
  return std::filesystem::path(TOMOGRAD_SOURCE_DIR) / relative;
}

/// `tomograd synth <what> --out @p out <args>`: a synthetic cohort; fails the test when synth fails.
inline void synth(const std::string& what, const std::filesystem::path& out, const std::string& args) {
  const auto r = run_command(tomograd_app() + " -q synth " + what + " --out " + q(out) + " " + args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

/// A JSON file a command wrote; fails the test naming the file when it is missing or invalid.
inline nlohmann::json read_json(const std::filesystem::path& path) {
  INFO(path.string());
  REQUIRE(std::filesystem::exists(path));
  return nlohmann::json::parse(read_file(path));
}

/// Requires every value of @p column of @p table to be a finite number.
inline void require_finite_column(const CsvTable& table, const std::string& column) {
  INFO("column " << column);
  for (double v : table.numbers(column)) REQUIRE(std::isfinite(v));
}

/// What headless Chromium made of an HTML file: a 1200-pixel-wide screenshot's PNG bytes and the
/// rendered DOM. Fails the test when Chromium is missing or writes no screenshot.
struct ChromiumPage {
  std::string png, dom;
};
inline ChromiumPage render_in_chromium(const std::filesystem::path& html, const std::filesystem::path& scratch) {
  const std::filesystem::path chromium = "/usr/bin/chromium";
  if (!std::filesystem::exists(chromium)) {
    FAIL("Chromium is required for this test but " << chromium
                                                   << " does not exist: install Debian's chromium package "
                                                      "(scripts/install-deps.sh does)");
  }
  const std::string flags = " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking"
                            " --disable-component-update --disable-sync --no-first-run --hide-scrollbars"
                            " --user-data-dir=" + q(scratch / "profile") + " --window-size=1200,2000 ";
  const std::string url = shell_quote("file://" + html.string());
  auto shot = run_command("timeout 120 " + chromium.string() + flags + "--screenshot=" + q(scratch / "shot.png") + " " + url);
  INFO("chromium stderr: " << shot.err);
  REQUIRE(std::filesystem::exists(scratch / "shot.png"));
  auto dom = run_command("timeout 120 " + chromium.string() + flags + "--dump-dom " + url);
  REQUIRE(dom.exit_code == 0);
  return {read_file(scratch / "shot.png"), dom.out};
}

}  // namespace tomograd::test
