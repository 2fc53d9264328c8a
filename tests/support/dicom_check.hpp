#pragma once
// Checks of DICOM files the project writes, by tools others wrote: dciodvfy (Debian's
// dicom3tools) for the IOD and pydicom (tests/unit/io/read_dicom_sc.py, run by /usr/bin/python3)
// to read Secondary Capture results and their source images back. Header-only.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "support/fixtures.hpp"

namespace tomograd::test {

/// dciodvfy's report on @p file (it writes to stderr; both streams are returned).
inline std::string dciodvfy(const std::filesystem::path& file) {
  const auto r = run_command("dciodvfy " + shell_quote(file.string()) + " 2>&1");
  return r.out + r.err;
}

/// The lines of a dciodvfy report that are errors ("Error - ...").
inline std::vector<std::string> dciodvfy_errors(const std::string& report) {
  std::vector<std::string> errors;
  std::size_t start = 0;
  while (start < report.size()) {
    std::size_t end = report.find('\n', start);
    if (end == std::string::npos) end = report.size();
    const std::string line = report.substr(start, end - start);
    if (line.find("Error") != std::string::npos) errors.push_back(line);
    start = end + 1;
  }
  return errors;
}

/// read_dicom_sc.py's JSON for the source images under @p source_dir and the results @p sc_files
/// (the script's docstring lists the fields). Fails the test with the script's stderr on error.
inline nlohmann::json read_sc_with_pydicom(const std::filesystem::path& source_dir,
                                           const std::vector<std::filesystem::path>& sc_files) {
  std::string cmd = "/usr/bin/python3 " + shell_quote(std::string(TOMOGRAD_SOURCE_DIR) + "/tests/unit/io/read_dicom_sc.py") +
                    " " + shell_quote(source_dir.string());
  for (const auto& f : sc_files) cmd += " " + shell_quote(f.string());
  const auto r = run_command(cmd);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

}  // namespace tomograd::test
