// metastasis preprocess --config C --data DIR: every patient's CT into the cache.
#include <iostream>
#include <memory>

#include "commands.hpp"

namespace tomograd::app {

namespace {

struct PreprocessOptions {
  ConfigArgs config;
  std::string cache;
};

void run_preprocess(PreprocessOptions o) {
  if (!o.cache.empty()) o.config.set.push_back("data.cache_dir=" + o.cache);
  const int n = tasks::metastasis::preprocess_data(load(o.config));
  std::cout << n << " studies preprocessed or already cached\n";
}

}  // namespace

void setup_preprocess(CLI::App& app) {
  auto o = std::make_shared<PreprocessOptions>();
  auto* cmd = app.add_subcommand("preprocess",
                                 "Preprocess every patient's CT into the cache (reused by train, evaluate, infer).\n"
                                 "Example: metastasis preprocess --config configs/metastasis_resnet50.yaml --data data "
                                 "--cache cache/");
  add_config_options(cmd, o->config);
  cmd->add_option("--cache", o->cache, "cache folder (default: data.cache_dir, else ~/.cache/tomograd/preprocess)");
  cmd->callback([o] { run_preprocess(*o); });
}

}  // namespace tomograd::app
