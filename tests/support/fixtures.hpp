#pragma once
// Shared test helpers: temporary folders, external test data, running the CLI.
#include <filesystem>
#include <string>

#include "tomograd/core/volume.hpp"

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

/// A real head CT written by others: the InVesalius example project (a tar.gz holding
/// matrix.dat, int16 HU, and main.plist with shape [z,y,x] and spacing [x,y,z] in mm), unpacked
/// into @p dir. Fails the test when the project is malformed.
Volume read_invesalius_ct(const std::filesystem::path& project, const std::filesystem::path& dir);

}  // namespace tomograd::test
