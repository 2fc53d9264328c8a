// Internals shared by the task pipelines.
#include "common.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <map>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/preprocess/cache.hpp"
#include "tomograd/tasks/training_sections.hpp"
#include "tomograd/train/config.hpp"

namespace tomograd::tasks::detail {

void make_data_path_absolute(YAML::Node root, const std::string& key, const std::filesystem::path& base) {
  if (!root["data"] || !root["data"][key] || !root["data"][key].IsScalar()) return;
  const std::filesystem::path p = root["data"][key].as<std::string>();
  if (!p.empty() && p.is_relative()) root["data"][key] = std::filesystem::absolute(base / p).lexically_normal().string();
}

std::filesystem::path cache_dir(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "tomograd" / "preprocess";
  if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "tomograd" / "preprocess";
  return std::filesystem::temp_directory_path() / "tomograd-preprocess";
}

void throw_if_problems(const std::string& what, const std::vector<std::string>& problems,
                       const std::string& consequence) {
  if (problems.empty()) return;
  std::string msg = what + ": " + std::to_string(problems.size()) + " problem" + (problems.size() == 1 ? "" : "s") +
                    " found, " + consequence + ":";
  for (const auto& p : problems) msg += "\n  - " + p;
  throw ValueError(msg);
}

void write_csv(const std::filesystem::path& path, const CsvTable& table, bool force) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  write_file_atomic(path, table.to_string(), force ? Overwrite::kAllow : Overwrite::kNever);
}

std::string num(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

models::ModelPtr build_model(const models::ModelSpec& spec, bool load_pretrained) {
  models::register_builtin_models();
  models::ModelSpec s = spec;
  if (!load_pretrained) s.pretrained.path.clear();
  auto model = models::create_model(s);
  if (!s.pretrained.path.empty()) logger()->info("pretrained weights: {}", s.pretrained.path);
  return model;
}

std::vector<std::optional<SliceStudy>> cached_slice_studies(const std::filesystem::path& cache_dir,
                                                            const preprocess::PreprocessOptions& options,
                                                            const preprocess::SliceOptions& slices,
                                                            const std::vector<preprocess::CacheInput>& inputs,
                                                            int threads, std::vector<std::string>& problems) {
  preprocess::PreprocessCache cache(cache_dir, options);
  const auto summary = cache.build_all(inputs, threads);
  std::map<std::string, std::string> failed;
  for (const auto& [path, why] : summary.failures) failed[std::filesystem::path(path).lexically_normal().string()] = why;
  std::vector<std::optional<SliceStudy>> out;
  for (const auto& in : inputs) {
    out.emplace_back();
    const std::string where = "patient " + in.patient_id + " (" + in.path.string() + "): ";
    if (auto it = failed.find(in.path.lexically_normal().string()); it != failed.end()) {
      problems.push_back(where + "no readable series: " + it->second);
      continue;
    }
    try {
      const preprocess::PreprocessedStudy study = cache.get_or_build(in.path, in.series);
      SliceStudy s;
      s.patient_id = in.patient_id;
      s.slices = study_slices(in.patient_id, study, slices);
      s.data = study.data;
      s.mask = study.mask;
      out.back() = std::move(s);
    } catch (const ValueError& e) {
      problems.push_back(e.what());  // names the patient already
    } catch (const Error& e) {
      problems.push_back(where + e.what());
    }
  }
  return out;
}

std::vector<SliceStudy> labelled_slice_studies(const std::filesystem::path& cache_dir,
                                               const preprocess::PreprocessOptions& options,
                                               const preprocess::SliceOptions& slices,
                                               const std::vector<preprocess::CacheInput>& inputs, int threads,
                                               std::vector<std::string>& problems, const StudyLabeller& label) {
  auto studies = cached_slice_studies(cache_dir, options, slices, inputs, threads, problems);
  std::vector<SliceStudy> out;
  for (std::size_t i = 0; i < studies.size(); ++i) {
    if (!studies[i]) continue;
    SliceStudy s = std::move(*studies[i]);
    label(i, s);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace tomograd::tasks::detail

namespace tomograd::tasks {

TrainingSections read_training_sections(ConfigReader& root) {
  TrainingSections t;
  ConfigReader model = root.child("model");
  t.model = models::decode_model_spec(model);
  ConfigReader loss = root.child("loss");
  t.loss = train::read_loss_options(loss);
  ConfigReader optim = root.child("optim");
  t.optim = train::read_optim_options(optim);
  ConfigReader scheduler = root.child("scheduler");
  t.scheduler = train::read_scheduler_options(scheduler);
  t.curriculum = train::read_curriculum(root);
  ConfigReader tr = root.child("train");
  t.train = train::read_train_options(tr);
  return t;
}

}  // namespace tomograd::tasks
