// bmd runs DIR: the run directories under DIR as a Markdown table.
#include <iostream>
#include <memory>

#include "commands.hpp"

namespace tomograd::app {

namespace {

struct RunsOptions {
  std::string dir = "runs";
};

void run_runs(const RunsOptions& o) { std::cout << tasks::bmd::list_runs(o.dir); }

}  // namespace

void setup_runs(CLI::App& app) {
  auto o = std::make_shared<RunsOptions>();
  auto* cmd = app.add_subcommand("runs",
                                 "List the runs under DIR (two levels deep) with model, epochs, checkpoints and\n"
                                 "key metrics. Example: bmd runs runs/");
  cmd->add_option("DIR", o->dir, "folder holding run directories (default: runs)")->capture_default_str();
  cmd->callback([o] { run_runs(*o); });
}

}  // namespace tomograd::app
