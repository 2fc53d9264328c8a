#include "support/fixtures.hpp"

#include <sys/wait.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <sstream>

#include "tomograd/core/atomic_file.hpp"

namespace fs = std::filesystem;

namespace tomograd::test {

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path_ = fs::temp_directory_path() /
          ("tomograd-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
           std::to_string(rd() % 1000000));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path data_file(const std::string& relative) {
  fs::path p = fs::path(TOMOGRAD_TEST_DATA_DIR) / relative;
  if (!fs::exists(p)) {
    FAIL("missing external test data " << p
                                       << ": run scripts/fetch-test-data.sh (scripts/test.sh does)");
  }
  return p;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

CommandResult run_command(const std::string& command) {
  TempDir tmp;
  fs::path out = tmp / "stdout", err = tmp / "stderr";
  std::string full = command + " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string()) +
                     " </dev/null";
  int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = fs::exists(out) ? read_file(out) : "";
  r.err = fs::exists(err) ? read_file(err) : "";
  return r;
}

}  // namespace tomograd::test
