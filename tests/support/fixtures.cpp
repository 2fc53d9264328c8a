#include "support/fixtures.hpp"

#include <sys/wait.h>
#include <torch/torch.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <regex>
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

Volume read_invesalius_ct(const std::filesystem::path& project, const std::filesystem::path& dir) {
  auto r = run_command("tar -xzf " + shell_quote(project.string()) + " -C " + shell_quote(dir.string()));
  REQUIRE(r.exit_code == 0);
  std::filesystem::path folder;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.path().filename() == "main.plist") folder = e.path().parent_path();
  }
  REQUIRE(!folder.empty());
  const std::string plist = read_file(folder / "main.plist");
  auto numbers_after = [&](const std::string& key) {
    std::vector<double> v;
    auto pos = plist.find("<key>" + key + "</key>");
    REQUIRE(pos != std::string::npos);
    auto end = plist.find("</array>", pos);
    std::string block = plist.substr(pos, end - pos);
    std::regex num(">(-?[0-9.]+)<");
    for (std::sregex_iterator it(block.begin(), block.end(), num), stop; it != stop; ++it) v.push_back(std::stod((*it)[1]));
    return v;
  };
  auto shape = numbers_after("shape");
  auto spacing = numbers_after("spacing");
  REQUIRE(shape.size() == 3);
  REQUIRE(spacing.size() == 3);
  const std::string raw = read_file(folder / "matrix.dat");
  const int64_t d = static_cast<int64_t>(shape[0]), h = static_cast<int64_t>(shape[1]), w = static_cast<int64_t>(shape[2]);
  REQUIRE(static_cast<int64_t>(raw.size()) == d * h * w * 2);
  auto t = torch::from_blob(const_cast<char*>(raw.data()), {d, h, w}, torch::kInt16).to(torch::kFloat32);
  return Volume(t, {spacing[2], spacing[1], spacing[0]});
}

}  // namespace tomograd::test
