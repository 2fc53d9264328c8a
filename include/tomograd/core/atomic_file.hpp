#pragma once
/// @file Atomic writes: write to a temporary file in the target folder, then rename over it.
#include <filesystem>
#include <string>
#include <string_view>

namespace tomograd {

/// What to do when the destination already exists.
enum class Overwrite { kNever, kAllow };

/// A file that becomes visible under its final name only on commit().
///
/// The temporary file sits next to the target (same filesystem, so rename is atomic) and keeps
/// its extension (".nii.gz" stays last) so libraries that look at the suffix behave. If commit()
/// is never called the temporary file is removed by the destructor.
class AtomicFile {
 public:
  /// Throws IoError if @p target exists and @p overwrite is kNever, or its folder is missing.
  explicit AtomicFile(std::filesystem::path target, Overwrite overwrite = Overwrite::kNever);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Where to write the content.
  const std::filesystem::path& temp_path() const { return temp_; }
  const std::filesystem::path& target() const { return target_; }
  /// Renames the temporary file to the target. Throws IoError if the temp file is missing.
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  Overwrite overwrite_;
  bool committed_ = false;
};

/// Writes @p content to @p path atomically. Throws IoError on failure.
void write_file_atomic(const std::filesystem::path& path, std::string_view content,
                       Overwrite overwrite = Overwrite::kAllow);

/// Reads a whole file. Throws IoError naming the path on failure.
std::string read_file(const std::filesystem::path& path);

/// Creates @p dir (and parents) if needed. Throws IoError if it exists and is not a folder.
void ensure_directory(const std::filesystem::path& dir);

}  // namespace tomograd
