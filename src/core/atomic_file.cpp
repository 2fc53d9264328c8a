#include "tomograd/core/atomic_file.hpp"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <sstream>

#include "tomograd/core/error.hpp"

namespace fs = std::filesystem;

namespace tomograd {

namespace {
std::string unique_token() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  std::ostringstream s;
  s << ::getpid() << '-' << counter.fetch_add(1) << '-' << std::hex << (rd() & 0xffffff);
  return s.str();
}
}  // namespace

AtomicFile::AtomicFile(fs::path target, Overwrite overwrite)
    : target_(std::move(target)), overwrite_(overwrite) {
  if (target_.filename().empty()) throw IoError("not a file name: '" + target_.string() + "'");
  fs::path dir = target_.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw IoError("cannot write '" + target_.string() + "': folder '" + dir.string() +
                  "' does not exist");
  }
  if (overwrite_ == Overwrite::kNever && fs::exists(target_, ec)) {
    throw IoError("refusing to overwrite existing file '" + target_.string() +
                  "' (choose another output or remove it first)");
  }
  // Prefix rather than suffix, so the extension (".nii.gz", ".dcm") stays last.
  temp_ = dir / (".tmp-" + unique_token() + "-" + target_.filename().string());
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  std::error_code ec;
  if (!fs::exists(temp_, ec)) {
    throw IoError("writing '" + target_.string() + "' failed: nothing was written");
  }
  if (overwrite_ == Overwrite::kNever && fs::exists(target_, ec)) {
    throw IoError("refusing to overwrite existing file '" + target_.string() + "'");
  }
  fs::rename(temp_, target_, ec);
  if (ec) throw IoError("cannot rename '" + temp_.string() + "' to '" + target_.string() + "': " + ec.message());
  committed_ = true;
}

void write_file_atomic(const fs::path& path, std::string_view content, Overwrite overwrite) {
  AtomicFile file(path, overwrite);
  {
    std::ofstream out(file.temp_path(), std::ios::binary | std::ios::trunc);
    if (!out) throw IoError("cannot open '" + file.temp_path().string() + "' for writing");
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) throw IoError("writing '" + path.string() + "' failed (disk full?)");
  }
  file.commit();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open '" + path.string() + "' for reading");
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) throw IoError("reading '" + path.string() + "' failed");
  return s.str();
}

void ensure_directory(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw IoError("'" + dir.string() + "' exists and is not a folder");
    return;
  }
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create folder '" + dir.string() + "': " + ec.message());
}

}  // namespace tomograd
