// scripts/sweep.py on the CPU: bmd runs on a tiny synthetic cohort over 2 CPU slots, interrupted
// with SIGTERM mid-sweep and resumed (finished runs skipped, a half-trained run resumed from its
// checkpoint), the comparison table against each run's metrics.json; one run per GPU at a time
// with CUDA_VISIBLE_DEVICES per run (a shell command as the app, no GPU needed); bad input.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "support/cli.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"

extern char** environ;

using namespace tomograd;
namespace fs = std::filesystem;
using test::run_command;
using test::shell_quote;
using test::q;
using test::read_json;

namespace {

std::string sweep() { return "python3 " + q(fs::path(TOMOGRAD_SOURCE_DIR) / "scripts" / "sweep.py"); }
fs::path build_dir() { return fs::path(TOMOGRAD_BMD_APP).parent_path().parent_path().parent_path(); }

/// Status per run name from OUT/state/*.json.
std::map<std::string, nlohmann::json> states(const fs::path& out) {
  std::map<std::string, nlohmann::json> s;
  if (!fs::is_directory(out / "state")) return s;
  for (const auto& e : fs::directory_iterator(out / "state")) {
    if (e.path().extension() == ".json") s[e.path().stem().string()] = read_json(e.path());
  }
  return s;
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

/// Starts @p command with /bin/sh in the background; returns its pid (exec'd: the pid is the command's).
pid_t spawn(const std::string& command) {
  const std::string line = "exec " + command;
  const char* argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
  pid_t pid = -1;
  REQUIRE(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char* const*>(argv), environ) == 0);
  return pid;
}

/// Epochs of every run. The interrupted run must still have epochs to train when the test stops
/// the sweep: with three epochs of 0.7 s on an idle machine, a run once finished training between
/// the check and the signal.
constexpr int kEpochs = 6;

/// Epochs a run has finished (rows of its history.csv); 0 while the file is missing or unreadable.
int epochs_done(const fs::path& run) {
  try {
    return fs::exists(run / "history.csv") ? static_cast<int>(CsvTable::read(run / "history.csv").num_rows()) : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

/// A run that has its first checkpoint and at least three epochs still to train, while another
/// run is done; "" if the sweep got past that point (or ended) before.
std::string wait_for_half_trained(const fs::path& out, pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(4);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return "";
    bool any_done = false;
    std::string half;
    for (const auto& [name, st] : states(out)) {
      any_done |= st.value("status", "") == "done";
      const fs::path run = out / "runs" / name;
      if (st.value("status", "") == "running" && !st.value("trained", false) &&
          fs::exists(run / "checkpoints" / "last.pt") && epochs_done(run) <= kEpochs - 3) {
        half = name;
      }
    }
    if (any_done && !half.empty()) return half;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

std::string tiny_sets(const fs::path& tmp) {
  return " --set data.cache_dir=" + q(tmp / "cache") +
         " --set preprocess.resize.height=32 --set preprocess.resize.width=32 --set slices.count=3"
         " --set data.batch_size=4 --set eval.bootstrap=20 --set train.loader.workers=0 --set train.epochs=" +
         std::to_string(kEpochs);
}

}  // namespace

TEST_CASE("sweep: bmd on 2 CPU slots, interrupted, resumed, one comparison table", "[cli][sweep]") {
  test::TempDir tmp;
  auto r = run_command(shell_quote(TOMOGRAD_APP) + " -q synth bmd --out " + q(tmp / "cohort") +
                       " --patients 10 --scale 0.0625 --seed 3");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const fs::path out = tmp / "sweep";
  const std::string config = q(fs::path(TOMOGRAD_SOURCE_DIR) / "configs" / "bmd_resnet18.yaml");
  const std::string plan = " run --app bmd --build " + q(build_dir()) + " --data " +
                           q(tmp / "cohort" / "manifest.csv") + " --config " + config + " --config " + config +
                           "@optim.lr=3e-3 --folds 0,1 --seeds 1 --gpus cpu --cpu-slots 2 --out " + q(out) +
                           tiny_sets(tmp.path());
  const pid_t pid = spawn(sweep() + plan + " >" + q(tmp / "first.log") + " 2>&1");
  const std::string half = wait_for_half_trained(out, pid);
  INFO("first pass: " << (fs::exists(tmp / "first.log") ? read_file(tmp / "first.log") : std::string()));
  REQUIRE_FALSE(half.empty());  // the sweep must still be running a run after its first epoch
  REQUIRE(kill(pid, SIGTERM) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);

  const auto first = states(out);
  std::vector<std::string> done_first;
  for (const auto& [name, st] : first) {
    if (st.value("status", "") == "done") done_first.push_back(name);
  }
  CHECK_FALSE(done_first.empty());
  CHECK(first.at(half).value("status", "") == "interrupted");
  CHECK(CsvTable::read(out / "summary.csv").num_rows() == done_first.size());

  // Resume: no plan on the command line, the saved one is used.
  auto second = run_command(sweep() + " run --out " + q(out) + " --gpus cpu --cpu-slots 2");
  INFO(second.out << second.err);
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.out, Catch::Contains(std::to_string(done_first.size()) + " finished earlier"));
  const auto final_states = states(out);
  REQUIRE(final_states.size() == 4);
  for (const auto& [name, st] : final_states) {
    INFO(name);
    CHECK(st.value("status", "") == "done");
    const std::string log = read_file(out / "logs" / (name + ".log"));
    const bool was_done = std::find(done_first.begin(), done_first.end(), name) != done_first.end();
    if (was_done) CHECK(count_of(log, "=== train:") == 1);  // finished runs are not run again
  }
  const std::string half_log = read_file(out / "logs" / (half + ".log"));
  CHECK_THAT(half_log, Catch::Contains("=== train: resumed from checkpoints/last.pt"));
  CHECK(CsvTable::read(out / "runs" / half / "history.csv").num_rows() == kEpochs);  // epochs not repeated

  // The table holds every run, with the numbers of its metrics.json.
  const CsvTable table = CsvTable::read(out / "summary.csv");
  REQUIRE(table.num_rows() == 4);
  const auto names = table.strings("run");
  const auto maes = table.numbers("mae");
  for (size_t i = 0; i < names.size(); ++i) {
    const auto metrics = read_json(out / "runs" / names[i] / "eval" / "test" / "metrics.json");
    CHECK(maes[i] == Approx(metrics.at("mae").get<double>()).epsilon(1e-12));
  }
  const std::string md = read_file(out / "summary.md");
  for (const auto& n : names) CHECK_THAT(md, Catch::Contains("| " + n + " |"));
  CHECK_THAT(md, Catch::Contains("| bmd_resnet18@optim.lr=3e-3 | 2 |"));
  // The config's own override reached its runs' training.
  CHECK_THAT(read_file(out / "logs" / "bmd_resnet18@optim.lr=3e-3-f0-s1.log"), Catch::Contains("--set optim.lr=3e-3"));
}

TEST_CASE("sweep: one run per GPU at a time, each run sees only its GPU", "[cli][sweep]") {
  test::TempDir tmp;
  // The "app" is a shell command that records what it sees: the sweep's scheduling is what is tested.
  const std::string train =
      "{app_bin} -c 'mkdir -p {run} && date +%s.%N > {run}/start && echo \"$CUDA_VISIBLE_DEVICES {device}\" > "
      "{run}/env && sleep 0.4 && date +%s.%N > {run}/end && echo {\\\"fold\\\": {fold}} > {run}/metrics.json'";
  auto r = run_command("CUDA_VISIBLE_DEVICES=3,5 " + sweep() + " run --app probe --app-bin /bin/sh --train-cmd " +
                       shell_quote(train) + " --eval-cmd '' --metrics '{run}/metrics.json' --config " +
                       q(fs::path(TOMOGRAD_SOURCE_DIR) / "configs" / "bmd_resnet18.yaml") +
                       " --folds 0,1,2,3,4,5 --seeds 1 --out " + q(tmp / "s"));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  std::map<std::string, std::vector<std::pair<double, double>>> per_gpu;
  for (const auto& [name, st] : states(tmp / "s")) {
    const fs::path run = tmp / "s" / "runs" / name;
    const std::string env = read_file(run / "env");
    const std::string slot = st.at("slot").get<std::string>();
    INFO(name << " on " << slot << ": " << env);
    CHECK((slot == "gpu3" || slot == "gpu5"));
    CHECK(env == slot.substr(3) + " cuda\n");
    per_gpu[slot].emplace_back(std::stod(read_file(run / "start")), std::stod(read_file(run / "end")));
  }
  CHECK(per_gpu.size() == 2);  // both GPUs used
  for (auto& [slot, spans] : per_gpu) {
    std::sort(spans.begin(), spans.end());
    for (size_t i = 1; i < spans.size(); ++i) CHECK(spans[i].first >= spans[i - 1].second);  // no overlap
  }
  CHECK(CsvTable::read(tmp / "s" / "summary.csv").num_rows() == 6);  // also: no duplicate column for the "fold" metric
}

TEST_CASE("sweep: bad input gives one clear line", "[cli][sweep]") {
  test::TempDir tmp;
  const std::string config = q(fs::path(TOMOGRAD_SOURCE_DIR) / "configs" / "bmd_resnet18.yaml");
  auto missing = run_command(sweep() + " run --app bmd --build " + q(build_dir()) + " --data " + q(tmp / "none.csv") +
                             " --config " + config + " --out " + q(tmp / "s"));
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, Catch::Contains("--data") && Catch::Contains("does not exist"));
  CHECK(count_of(missing.err, "\n") == 1);

  auto no_config = run_command(sweep() + " run --app bmd --config " + q(tmp / "nope.yaml") + " --out " + q(tmp / "s"));
  CHECK(no_config.exit_code == 2);
  CHECK_THAT(no_config.err, Catch::Contains("nope.yaml does not exist"));

  auto nothing = run_command(sweep() + " run --out " + q(tmp / "empty"));
  CHECK(nothing.exit_code == 2);
  CHECK_THAT(nothing.err, Catch::Contains("no sweep to resume"));

  // A folder holding another plan is not silently mixed with a new one.
  const std::string probe = " run --app probe --app-bin /bin/sh --train-cmd \"{app_bin} -c 'mkdir -p {run} && echo {} > "
                            "{run}/m.json'\" --eval-cmd '' --metrics '{run}/m.json' --config " + config + " --out " +
                            q(tmp / "p");
  REQUIRE(run_command(sweep() + probe + " --seeds 1").exit_code == 0);
  auto other = run_command(sweep() + probe + " --seeds 2");
  CHECK(other.exit_code == 2);
  CHECK_THAT(other.err, Catch::Contains("another plan (seeds"));
}
