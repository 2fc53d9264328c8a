// tomograd preprocess --config C --manifest M --cache DIR: fills the preprocessed-study cache.
#include <iostream>

#include "commands.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/preprocess/cache.hpp"
#include "tomograd/preprocess/config.hpp"

namespace tomograd::app {

namespace {

struct PreprocessCmdOptions {
  std::string config, manifest, cache;
  std::vector<std::string> overrides;
  int threads = 0;
};

void run_preprocess(const PreprocessCmdOptions& o) {
  preprocess::PreprocessConfig config = preprocess::load_preprocess_config(o.config, o.overrides);
  auto inputs = preprocess::read_manifest(o.manifest);
  preprocess::PreprocessCache cache(o.cache, config.preprocess);
  preprocess::CacheSummary s = cache.build_all(inputs, o.threads);
  std::cout << s.to_string() << " (cache " << o.cache << ", index " << (cache.dir() / "index.csv").string() << ")\n";
  for (const auto& [path, why] : s.failures) std::cout << "  failed: " << path << ": " << why << "\n";
  if (s.failed > 0) {
    throw Error(std::to_string(s.failed) + " of " + std::to_string(inputs.size()) +
                " studies failed; the others are cached, a rerun retries only the failed ones");
  }
}

}  // namespace

void setup_preprocess(CLI::App& app) {
  auto o = std::make_shared<PreprocessCmdOptions>();
  auto* cmd = app.add_subcommand(
      "preprocess",
      "Preprocess every study of a manifest into a cache folder (reorient, brain extraction, slice\n"
      "quality, windows, resize, normalization; see docs/preprocess.md). Entries are keyed by the\n"
      "input files (path, size, mtime) and the preprocessing options: valid entries are reused, corrupt\n"
      "or partial ones rebuilt, so an interrupted run resumes. Writes CACHE/index.csv. Exit code 1 when\n"
      "a study failed (the summary lists why).\n"
      "Example:\n"
      "  tomograd preprocess --config configs/preprocess_head_ct.yaml --manifest manifest.csv --cache cache/");
  cmd->add_option("--config", o->config, "YAML with preprocess/slices/augment sections")->required();
  cmd->add_option("--manifest", o->manifest, "CSV with patient_id,path[,series_id,...]; relative paths are "
                                             "relative to the manifest")->required();
  cmd->add_option("--cache", o->cache, "cache folder (created if missing)")->required();
  cmd->add_option("--set", o->overrides, "override a config key, e.g. --set preprocess.resize.height=224 "
                                         "(repeatable; default: none)");
  cmd->add_option("--threads", o->threads, "studies processed at once (default: 0 = all cores)")->capture_default_str();
  cmd->callback([o] { run_preprocess(*o); });
}

}  // namespace tomograd::app
