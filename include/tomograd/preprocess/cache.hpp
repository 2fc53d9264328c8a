#pragma once
/// @file The preprocessed-study cache: each study preprocessed once, reused while its files and
/// the preprocessing options are unchanged.
///
/// Entry = <dir>/<key>.bin (the [C,D,H,W] float32 data, then the [D,H,W] uint8 brain mask when
/// there is one, little-endian) + <dir>/<key>.json (shape, geometry, channels, slice quality,
/// byte count and an FNV-1a 64 checksum of the .bin). The key is a 128-bit FNV-1a hash (hex) of
/// the format version, the canonical preprocessing options and the input's identity: its
/// absolute path and, for every file of the series (recursively for a folder), its relative path,
/// size and modification time. Both files are written atomically, the header last, so an
/// interrupted run leaves no entry that looks valid; a missing, partial or corrupt entry (bad
/// checksum, wrong size, unreadable header) is rebuilt.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tomograd/preprocess/preprocess.hpp"

namespace tomograd::preprocess {

/// FNV-1a, 64-bit, of @p bytes (continuing from @p state).
uint64_t fnv1a_64(std::string_view bytes, uint64_t state = 0xcbf29ce484222325ULL);
/// FNV-1a, 128-bit, of @p bytes as 32 lowercase hex digits.
std::string fnv1a_128_hex(std::string_view bytes);

/// One study to preprocess.
struct CacheInput {
  std::string patient_id;
  std::filesystem::path path;  ///< DICOM file/folder or NIfTI file
  std::string series;          ///< series selector (UID, description or index); empty = the only one
};

/// Reads a manifest CSV (patient_id,path[,series_id,...]); relative paths are relative to the
/// manifest's folder. Throws CsvError for missing columns.
std::vector<CacheInput> read_manifest(const std::filesystem::path& manifest);

/// What get_or_build() did.
enum class CacheStatus { kBuilt, kReused, kRebuilt, kFailed };
std::string to_string(CacheStatus status);

/// Result of build_all().
struct CacheSummary {
  int built = 0, reused = 0, rebuilt = 0, failed = 0;
  std::vector<std::pair<std::string, std::string>> failures;  ///< (input path, reason)
  /// "4 studies: 2 built, 1 reused, 0 rebuilt, 1 failed".
  std::string to_string() const;
};

class PreprocessCache {
 public:
  /// Current entry format; part of every key.
  static constexpr int kFormatVersion = 1;

  /// @param dir created if missing. Throws IoError if it is not a folder, ConfigError for bad
  /// options.
  PreprocessCache(std::filesystem::path dir, PreprocessOptions options);

  /// The key of @p input (see the file comment). Throws IoError if the input does not exist.
  std::string key(const std::filesystem::path& input, const std::string& series = "") const;

  /// The cached study when the entry is valid; else builds it (load_volume + preprocess_volume),
  /// writes the entry and returns it. Thread-safe for distinct and equal inputs alike.
  /// Throws what loading or preprocessing throws. @p status (optional) says what happened.
  PreprocessedStudy get_or_build(const std::filesystem::path& input, const std::string& series = "",
                                 CacheStatus* status = nullptr) const;

  /// Reads entry @p key; false (and the reason in @p why) when it is missing, partial or corrupt.
  bool load(const std::string& key, PreprocessedStudy& out, std::string* why = nullptr) const;

  /// get_or_build() for every input on @p threads threads (0 = all cores) with a progress bar;
  /// failures are collected, not thrown. Writes <dir>/index.csv (patient_id, path, series, key,
  /// status, slices, kept_slices, message) and logs the summary.
  CacheSummary build_all(const std::vector<CacheInput>& inputs, int threads = 0) const;

  const std::filesystem::path& dir() const { return dir_; }
  const PreprocessOptions& options() const { return options_; }

 private:
  void store(const std::string& key, const std::filesystem::path& input, const std::string& series,
             const PreprocessedStudy& study) const;
  std::filesystem::path dir_;
  PreprocessOptions options_;
  std::string options_text_;
};

}  // namespace tomograd::preprocess
