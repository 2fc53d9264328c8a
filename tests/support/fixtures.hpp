#pragma once
// Shared test helpers: temporary folders, external test data, running the CLI.
#include <filesystem>
#include <string>

namespace tomograd::test {

/// A fresh empty folder under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// A file of the fetched external test data (scripts/fetch-test-data.sh), e.g.
/// data_file("pydicom/CT_small.dcm"). Fails the test (never skips) with instructions when the
/// file is missing.
std::filesystem::path data_file(const std::string& relative);

/// Result of running a command.
struct CommandResult {
  int exit_code = -1;
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};

/// Runs @p command with /bin/sh, capturing stdout and stderr.
CommandResult run_command(const std::string& command);

/// Quotes a path for /bin/sh.
std::string shell_quote(const std::string& s);

}  // namespace tomograd::test
