#include "tomograd/preprocess/cache.hpp"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <mutex>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/io/volume_io.hpp"

namespace fs = std::filesystem;

namespace tomograd::preprocess {

namespace {

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

/// Identity of the input's files: relative path, size and modification time of each.
std::string input_identity(const fs::path& input) {
  std::error_code ec;
  const fs::path abs = fs::weakly_canonical(fs::absolute(input), ec);
  if (!fs::exists(abs, ec)) throw IoError("input '" + input.string() + "' does not exist");
  std::vector<fs::path> files;
  if (fs::is_directory(abs, ec)) {
    for (const auto& e : fs::recursive_directory_iterator(abs, fs::directory_options::skip_permission_denied)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(abs);
  }
  std::string id = "path=" + abs.string() + "\n";
  for (const auto& f : files) {
    const auto size = fs::file_size(f, ec);
    const auto mtime = fs::last_write_time(f, ec).time_since_epoch().count();
    id += fs::relative(f, abs.has_filename() && fs::is_directory(abs) ? abs : abs.parent_path(), ec).string() + " " +
          std::to_string(size) + " " + std::to_string(mtime) + "\n";
  }
  return id;
}

nlohmann::json vec3_json(const Vec3& v) { return {v[0], v[1], v[2]}; }

Vec3 vec3_from(const nlohmann::json& j) { return {j.at(0).get<double>(), j.at(1).get<double>(), j.at(2).get<double>()}; }

}  // namespace

uint64_t fnv1a_64(std::string_view bytes, uint64_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string fnv1a_128_hex(std::string_view bytes) {
  // FNV-1a 128 (offset basis and prime from the FNV specification, draft-eastlake-fnv).
  unsigned __int128 h = (static_cast<unsigned __int128>(0x6c62272e07bb0142ULL) << 64) | 0x62b821756295c58dULL;
  const unsigned __int128 prime = (static_cast<unsigned __int128>(0x0000000001000000ULL) << 64) | 0x000000000000013BULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= prime;
  }
  return hex64(static_cast<uint64_t>(h >> 64)) + hex64(static_cast<uint64_t>(h));
}

std::vector<CacheInput> read_manifest(const fs::path& manifest) {
  CsvTable t = CsvTable::read(manifest);
  const auto pid = t.column_index("patient_id"), path = t.column_index("path");
  const bool has_series = t.has_column("series_id");
  const fs::path base = manifest.parent_path();
  std::vector<CacheInput> out;
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    CacheInput in;
    in.patient_id = t.at(r, pid);
    fs::path p = t.at(r, path);
    if (p.empty()) throw CsvError(manifest.string() + ": line " + std::to_string(t.line_of(r)) + ": empty path");
    in.path = p.is_absolute() ? p : base / p;
    if (has_series) in.series = t.at(r, t.column_index("series_id"));
    out.push_back(std::move(in));
  }
  return out;
}

std::string to_string(CacheStatus s) {
  switch (s) {
    case CacheStatus::kBuilt: return "built";
    case CacheStatus::kReused: return "reused";
    case CacheStatus::kRebuilt: return "rebuilt";
    case CacheStatus::kFailed: return "failed";
  }
  return "failed";
}

std::string CacheSummary::to_string() const {
  return std::to_string(built + reused + rebuilt + failed) + " studies: " + std::to_string(built) + " built, " +
         std::to_string(reused) + " reused, " + std::to_string(rebuilt) + " rebuilt, " + std::to_string(failed) +
         " failed";
}

PreprocessCache::PreprocessCache(fs::path dir, PreprocessOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  options_.validate();
  ensure_directory(dir_);
  options_text_ = options_.to_json().dump();
}

std::string PreprocessCache::key(const fs::path& input, const std::string& series) const {
  const std::string text = "tomograd-preprocess-cache v" + std::to_string(kFormatVersion) + "\nseries=" + series +
                           "\noptions=" + options_text_ + "\n" + input_identity(input);
  return fnv1a_128_hex(text);
}

bool PreprocessCache::load(const std::string& key, PreprocessedStudy& out, std::string* why) const {
  auto fail = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  const fs::path header = dir_ / (key + ".json"), bin = dir_ / (key + ".bin");
  std::error_code ec;
  if (!fs::exists(header, ec)) return fail(fs::exists(bin, ec) ? "header missing (partial entry)" : "no entry");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(header));
  } catch (const std::exception& e) {
    return fail(std::string("unreadable header: ") + e.what());
  }
  try {
    if (j.at("format_version").get<int>() != kFormatVersion) return fail("format version differs");
    if (j.at("key").get<std::string>() != key) return fail("header belongs to another key");
    const auto shape = j.at("shape").get<std::vector<int64_t>>();
    if (shape.size() != 4) return fail("bad shape in header");
    const bool has_mask = j.at("has_mask").get<bool>();
    const int64_t n = shape[0] * shape[1] * shape[2] * shape[3];
    const int64_t mask_n = has_mask ? shape[1] * shape[2] * shape[3] : 0;
    const auto expected = static_cast<uintmax_t>(n * 4 + mask_n);
    if (!fs::exists(bin, ec)) return fail("data file missing");
    if (fs::file_size(bin, ec) != expected || j.at("bytes").get<uintmax_t>() != expected) {
      return fail("data file has " + std::to_string(fs::file_size(bin, ec)) + " bytes, expected " + std::to_string(expected));
    }
    const std::string raw = read_file(bin);
    if (hex64(fnv1a_64(raw)) != j.at("checksum").get<std::string>()) return fail("checksum mismatch");
    PreprocessedStudy s;
    s.data = torch::empty({shape[0], shape[1], shape[2], shape[3]}, torch::kFloat32);
    std::memcpy(s.data.data_ptr<float>(), raw.data(), static_cast<std::size_t>(n) * 4);
    if (has_mask) {
      s.mask = torch::empty({shape[1], shape[2], shape[3]}, torch::kUInt8);
      std::memcpy(s.mask.data_ptr<uint8_t>(), raw.data() + n * 4, static_cast<std::size_t>(mask_n));
    }
    s.spacing_mm = vec3_from(j.at("spacing_mm"));
    s.origin_lps = vec3_from(j.at("origin_lps"));
    const auto d = j.at("direction");
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) s.direction[r][c] = d.at(r).at(c).get<double>();
    }
    s.channels = j.at("channels").get<std::vector<std::string>>();
    s.brain_volume_ml = j.at("brain_volume_ml").get<double>();
    s.quality = SliceQualityReport::from_json(j.at("quality"));
    out = std::move(s);
    return true;
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("malformed header: ") + e.what());
  }
}

void PreprocessCache::store(const std::string& key, const fs::path& input, const std::string& series,
                            const PreprocessedStudy& s) const {
  const torch::Tensor data = s.data.to(torch::kFloat32).contiguous();
  std::string raw(reinterpret_cast<const char*>(data.data_ptr<float>()), static_cast<std::size_t>(data.numel()) * 4);
  const bool has_mask = s.mask.defined();
  if (has_mask) {
    const torch::Tensor m = s.mask.to(torch::kUInt8).contiguous();
    raw.append(reinterpret_cast<const char*>(m.data_ptr<uint8_t>()), static_cast<std::size_t>(m.numel()));
  }
  nlohmann::json j;
  j["format_version"] = kFormatVersion;
  j["key"] = key;
  std::error_code ec;
  j["input"] = fs::weakly_canonical(fs::absolute(input), ec).string();
  j["series"] = series;
  j["shape"] = data.sizes().vec();
  j["has_mask"] = has_mask;
  j["bytes"] = raw.size();
  j["checksum"] = hex64(fnv1a_64(raw));
  j["spacing_mm"] = vec3_json(s.spacing_mm);
  j["origin_lps"] = vec3_json(s.origin_lps);
  j["direction"] = nlohmann::json::array();
  for (const auto& row : s.direction) j["direction"].push_back({row[0], row[1], row[2]});
  j["channels"] = s.channels;
  j["brain_volume_ml"] = s.brain_volume_ml;
  j["quality"] = s.quality.to_json();
  j["options"] = options_.to_json();
  // Data first, header last: a header only exists next to complete data.
  write_file_atomic(dir_ / (key + ".bin"), raw, Overwrite::kAllow);
  write_file_atomic(dir_ / (key + ".json"), j.dump(1), Overwrite::kAllow);
}

PreprocessedStudy PreprocessCache::get_or_build(const fs::path& input, const std::string& series, CacheStatus* status) const {
  const std::string k = key(input, series);
  PreprocessedStudy study;
  std::string why;
  if (load(k, study, &why)) {
    if (status) *status = CacheStatus::kReused;
    return study;
  }
  const bool existed = why != "no entry";
  if (existed) logger()->warn("cache entry {} for '{}' is invalid ({}); rebuilding", k, input.string(), why);
  io::DicomReadOptions read;
  read.show_progress = false;
  read.threads = 1;
  Volume v = io::load_volume(input, series, read);
  study = preprocess_volume(v, options_);
  store(k, input, series, study);
  if (status) *status = existed ? CacheStatus::kRebuilt : CacheStatus::kBuilt;
  return study;
}

CacheSummary PreprocessCache::build_all(const std::vector<CacheInput>& inputs, int threads) const {
  struct Row {
    std::string key, status, message;
    int64_t slices = 0, kept = 0;
  };
  std::vector<Row> rows(inputs.size());
  ProgressBar bar(static_cast<int64_t>(inputs.size()), "preprocessing", "studies");
  parallel_for(inputs.size(), threads, [&](std::size_t i) {
    Row& r = rows[i];
    CacheStatus status = CacheStatus::kFailed;
    try {
      r.key = key(inputs[i].path, inputs[i].series);
      PreprocessedStudy s = get_or_build(inputs[i].path, inputs[i].series, &status);
      r.slices = s.data.size(1);
      r.kept = static_cast<int64_t>(s.quality.kept.size());
    } catch (const std::exception& e) {
      status = CacheStatus::kFailed;
      r.message = e.what();
      logger()->error("preprocessing '{}' failed: {}", inputs[i].path.string(), e.what());
    }
    r.status = to_string(status);
    bar.tick();
  });
  bar.finish();
  CacheSummary summary;
  CsvTable index({"patient_id", "path", "series", "key", "status", "slices", "kept_slices", "message"}, {});
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Row& r = rows[i];
    if (r.status == "built") ++summary.built;
    else if (r.status == "reused") ++summary.reused;
    else if (r.status == "rebuilt") ++summary.rebuilt;
    else {
      ++summary.failed;
      summary.failures.emplace_back(inputs[i].path.string(), r.message);
    }
    index.add_row({inputs[i].patient_id, inputs[i].path.string(), inputs[i].series, r.key, r.status,
                   std::to_string(r.slices), std::to_string(r.kept), r.message});
  }
  write_file_atomic(dir_ / "index.csv", index.to_string(), Overwrite::kAllow);
  logger()->info("preprocess cache {}: {}", dir_.string(), summary.to_string());
  return summary;
}

}  // namespace tomograd::preprocess
