// Lumbar training: the run directory filled fold by fold, each study's classifier inputs cached
// for the run's later folds, the 25 x 3 classifier of each fold trained with the weighted, masked
// cross-entropy (and the adjacent-level consistency term), and its out-of-fold predictions.
#include <torch/torch.h>

#include <cmath>
#include <map>

#include "../common.hpp"
#include "pipeline_impl.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/eval/rsna_lumbar.hpp"
#include "tomograd/tasks/lumbar/oof.hpp"
#include "tomograd/tasks/lumbar/training.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/distributed.hpp"
#include "tomograd/train/run_dir.hpp"
#include "tomograd/train/sharded.hpp"
#include "tomograd/train/trainer.hpp"

namespace tomograd::tasks::lumbar {
namespace fs = std::filesystem;
using namespace internal;

torch::Tensor run_model(models::Model& model, const torch::Tensor& x, const torch::Tensor& meta, const InputOptions& in) {
  if (in.model_tasks() == 25) return model.forward(x, meta).reshape({-1, 25, 3});
  const int64_t n = x.size(0);
  const torch::Tensor levels = torch::eye(5, x.options()).repeat({n, 1});
  const torch::Tensor out = model.forward(x.reshape({n * 5, x.size(1) / 5, x.size(2), x.size(3)}), levels);
  return out.reshape({n, 5, 5, 3}).permute({0, 2, 1, 3}).reshape({n, 25, 3});  // [level][condition] -> [condition][level]
}

namespace {

/// Competition rows of labelled cells from [N,25,3] probabilities.
std::vector<eval::LumbarRow> competition_rows(const torch::Tensor& prob, const std::vector<std::string>& ids,
                                              const torch::Tensor& targets, const torch::Tensor& masks) {
  std::vector<eval::LumbarRow> rows;
  const torch::Tensor p = prob.to(torch::kFloat64).contiguous();
  for (int64_t n = 0; n < p.size(0); ++n) {
    for (int64_t k = 0; k < 25; ++k) {
      if (!masks[n][k].item<bool>()) continue;
      eval::LumbarRow r;
      r.study_id = ids[static_cast<std::size_t>(n)];
      r.condition = k < 5 ? eval::LumbarCondition::kSpinal
                          : (k < 15 ? eval::LumbarCondition::kForaminal : eval::LumbarCondition::kSubarticular);
      r.severity = static_cast<int>(targets[n][k].item<int64_t>());
      for (int64_t c = 0; c < 3; ++c) r.probabilities[static_cast<std::size_t>(c)] = p[n][k][c].item<double>();
      rows.push_back(r);
    }
  }
  return rows;
}

std::map<std::string, double> score_metrics(const eval::LumbarScore& s) {
  auto v = [](const eval::MetricValue& m) { return m.defined() ? m.value() : std::nan(""); };
  return {{"val_score", v(s.score)},
          {"val_spinal", v(s.spinal)},
          {"val_foraminal", v(s.foraminal)},
          {"val_subarticular", v(s.subarticular)},
          {"val_any_severe_spinal", v(s.any_severe_spinal)}};
}

}  // namespace

torch::Tensor adjacent_level_consistency(const torch::Tensor& outputs, const train::Batch&) {
  const torch::Tensor p = torch::softmax(outputs.reshape({-1, 5, 5, 3}), -1);
  const torch::Tensor e = p.select(-1, 1) + 2 * p.select(-1, 2);  // [N, condition, level]
  return (e.slice(2, 1, 5) - e.slice(2, 0, 4)).pow(2).mean();
}

namespace {

std::map<std::string, int> read_folds(const fs::path& file) {
  const CsvTable t = CsvTable::read(file);
  std::map<std::string, int> out;
  for (std::size_t r = 0; r < t.num_rows(); ++r) out[t.at(r, t.column_index("study_id"))] = std::stoi(t.at(r, t.column_index("fold")));
  return out;
}

/// Checks the run directory (every rank of a data-parallel job, before any writes): a run may be
/// filled fold by fold, always with the same configuration.
void check_run_dir(const LumbarConfig& config, const fs::path& out, const std::vector<int>& only, bool force,
                   const fs::path& localizer_from) {
  const bool existing = fs::is_regular_file(out / "config.yaml");
  if (existing) {
    if (read_file(out / "config.yaml") != config.yaml && !force) {
      throw ValueError(out.string() + " was trained with another configuration (see its config.yaml); use another "
                       "--out, or --force to train into it anyway");
    }
  } else {
    train::require_empty_dir(out, force, "pass --force to train into it");
  }
  for (int k : only) {
    if (k < 0 || k >= config.data.folds) {
      throw ValueError("--fold " + std::to_string(k) + " is outside 0.." + std::to_string(config.data.folds - 1));
    }
  }
  for (const char* f : {"folds.csv", "localizer/offsets.json"}) {
    if (!localizer_from.empty() && !fs::is_regular_file(localizer_from / f)) {
      throw IoError(localizer_from.string() + ": no " + f + " (--localizer takes a run trained by lumbar train)");
    }
  }
}

/// Starts the run directory (rank 0): its config.yaml; with @p localizer_from, that run's
/// localizer and folds.csv are copied in.
void start_run_dir(const LumbarConfig& config, const fs::path& out, const fs::path& localizer_from) {
  fs::create_directories(out);
  write_file_atomic(out / "config.yaml", config.yaml, Overwrite::kAllow);
  if (localizer_from.empty()) return;
  if (fs::exists(out / "localizer")) fs::remove_all(out / "localizer");
  fs::copy(localizer_from / "localizer", out / "localizer", fs::copy_options::recursive);
  fs::copy_file(localizer_from / "folds.csv", out / "folds.csv", fs::copy_options::overwrite_existing);
}

/// The fold of each study: RUN/folds.csv when the run has one, else assigned and written there.
std::vector<int> run_folds(const LumbarConfig& config, const LumbarDataset& ds, const std::vector<std::string>& ids,
                           const fs::path& out) {
  std::vector<int> fold;
  if (fs::is_regular_file(out / "folds.csv")) {
    const auto known = read_folds(out / "folds.csv");
    for (const auto& id : ids) {
      const auto it = known.find(id);
      if (it == known.end()) throw ValueError(out.string() + "/folds.csv has no fold for study " + id + " of the data");
      if (it->second < 0 || it->second >= config.data.folds) {
        throw ValueError(out.string() + "/folds.csv puts study " + id + " in fold " + std::to_string(it->second) +
                         " but data.folds is " + std::to_string(config.data.folds));
      }
      fold.push_back(it->second);
    }
    return fold;
  }
  fold = assign_folds(ds.labels, config.data.folds, config.data.fold_seed);
  CsvTable t({"study_id", "fold"}, {});
  for (std::size_t i = 0; i < ids.size(); ++i) t.add_row({ids[i], std::to_string(fold[i])});
  detail::write_csv(out / "folds.csv", t, true);
  return fold;
}

/// RUN/inputs/, emptied unless its fingerprint says it was built with the same configuration,
/// localizer and dataset CSV files.
fs::path input_cache(const LumbarConfig& config, const LumbarDataset& ds, const fs::path& out) {
  const fs::path cache = out / "inputs";
  auto contents = [](const fs::path& f) { return fs::is_regular_file(f) ? read_file(f) : std::string(); };
  const std::string fingerprint = train::fnv1a_hex(
      contents(ds.dir / "train_series_descriptions.csv") + contents(ds.dir / "train_label_coordinates.csv") +
      contents(out / "localizer" / "offsets.json") + contents(best_checkpoint(out / "localizer")) + config.yaml);
  if (fs::exists(cache) && (!fs::is_regular_file(cache / "fingerprint") || read_file(cache / "fingerprint") != fingerprint)) {
    fs::remove_all(cache);
  }
  fs::create_directories(cache);
  write_file_atomic(cache / "fingerprint", fingerprint, Overwrite::kAllow);
  return cache;
}

/// Builds the classifier inputs of @p items' studies @p ids and caches each in @p cache.
void build_inputs(const LumbarConfig& config, const LumbarDataset& ds, const std::vector<std::string>& ids,
                  const std::vector<Item*>& items, const fs::path& cache, const Localizer& loc) {
  const int64_t margin = margin_px(config.input);
  for_each_study(ds, ids, config.data.threads, "classifier inputs", [&](std::size_t j, const StudyImages& st) {
    Item& it = *items[j];
    const LevelPoints predicted = loc.points(st);
    LevelPoints pts = labelled_points(ds, st);
    for (std::size_t k = 0; k < 25; ++k) {
      if (!pts[k]) pts[k] = predicted[k];
    }
    it.labelled = build_input(st, pts, config.input, margin);
    it.input = build_input(st, predicted, config.input, margin);
    it.meta = metadata_of(st, config.input);
    // Written to a temporary name and renamed, so an interrupted run never leaves half a file.
    const fs::path file = cache / (it.study_id + ".pt");
    const fs::path tmp = cache / (it.study_id + ".pt.tmp");
    torch::save(std::vector<torch::Tensor>{it.labelled, it.input, it.meta.defined() ? it.meta : torch::zeros({0})},
                tmp.string());
    fs::rename(tmp, file);
  });
}

/// Classifier inputs of every study, cached in RUN/inputs/ for the run's later folds: valid while
/// the configuration (enforced by check_run_dir), the localizer and the dataset's CSV files stay
/// the same. In a data-parallel job each rank builds a contiguous share of the missing studies and
/// reads the others' from the cache (rank 0 alone checks and starts the cache).
std::vector<Item> classifier_inputs(const LumbarConfig& config, const LumbarDataset& ds,
                                    const std::vector<std::string>& ids, const fs::path& out, const Localizer& loc) {
  train::run_on_main_process([&] { input_cache(config, ds, out); });
  const fs::path cache = out / "inputs";
  std::vector<Item> items(ids.size());
  std::vector<std::string> missing;
  std::vector<std::size_t> missing_index;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    items[i].study_id = ids[i];
    items[i].grades = ds.labels[i].grades;
    const fs::path file = cache / (ids[i] + ".pt");
    if (!read_cached_input(file, items[i])) {
      missing.push_back(ids[i]);
      missing_index.push_back(i);
    }
  }
  if (missing.size() < ids.size()) {
    logger()->info("{} of {} studies' inputs read from {}", ids.size() - missing.size(), ids.size(), cache.string());
  }
  const train::Communicator* comm = train::sharding_communicator(loc.device);
  const auto [begin, end] =
      comm ? train::contiguous_share(missing.size(), comm->rank(), comm->world_size()) : std::make_pair(std::size_t{0}, missing.size());
  std::vector<Item*> mine;
  for (std::size_t j = begin; j < end; ++j) mine.push_back(&items[missing_index[j]]);
  const std::vector<std::string> share(missing.begin() + static_cast<std::ptrdiff_t>(begin),
                                       missing.begin() + static_cast<std::ptrdiff_t>(end));
  if (!share.empty()) build_inputs(config, ds, share, mine, cache, loc);
  train::wait_for_sharded_ranks();
  for (std::size_t j = 0; j < missing.size(); ++j) {
    if (j >= begin && j < end) continue;
    if (!read_cached_input(cache / (missing[j] + ".pt"), items[missing_index[j]])) {
      throw IoError((cache / (missing[j] + ".pt")).string() + ": another rank's cached input cannot be read");
    }
  }
  return items;
}

/// The out-of-fold rows of fold @p k's held-out studies @p va from probabilities @p p [N, 25, 3];
/// the labelled ones also go to @p scored.
std::vector<OofRow> oof_rows(const std::vector<const Item*>& va, const torch::Tensor& p, int k,
                             std::vector<eval::LumbarRow>& scored) {
  std::vector<OofRow> rows;
  for (std::size_t i = 0; i < va.size(); ++i) {
    for (int c = 0; c < 5; ++c) {
      for (int l = 0; l < 5; ++l) {
        OofRow r;
        r.study_id = va[i]->study_id;
        r.condition = c;
        r.level = l;
        r.label = va[i]->grades[static_cast<std::size_t>(c * 5 + l)];
        r.fold = k;
        for (int g = 0; g < 3; ++g) {
          r.probabilities[static_cast<std::size_t>(g)] = p[static_cast<int64_t>(i)][c * 5 + l][g].item<double>();
        }
        if (r.label >= 0) {
          scored.push_back({r.study_id, eval::lumbar_condition_of(condition_keys()[static_cast<std::size_t>(c)]),
                            r.label, r.probabilities});
        }
        rows.push_back(r);
      }
    }
  }
  return rows;
}

/// Out-of-fold probabilities [N, 25, 3] float64 of the best checkpoint in @p dir on the held-out
/// studies @p va; in a data-parallel job each rank predicts a contiguous share, gathered in order.
torch::Tensor oof_probabilities(const LumbarConfig& config, const std::vector<const Item*>& va, const fs::path& dir) {
  const torch::Device device = train::parse_device(config.train.device);
  return train::shard_and_gather_rows(va.size(), device, [&](std::size_t begin, std::size_t end) {
    auto best = make_model(config.model, false);
    train::load_checkpoint(best_checkpoint(dir), *best, nullptr, false);
    best->to(device);
    best->eval();
    const std::vector<const Item*> share(va.begin() + static_cast<std::ptrdiff_t>(begin),
                                         va.begin() + static_cast<std::ptrdiff_t>(end));
    return predict_items(*best, share, config.input, device).to(torch::kFloat64);
  });
}

/// Trains the classifier of fold @p k into RUN/fold_<k>/ and writes its out-of-fold predictions.
/// Returns the fold's out-of-fold score (NaN when undefined).
double train_fold(const LumbarConfig& config, const std::vector<Item>& items, const std::vector<int>& fold, int k,
                  const fs::path& out, bool force) {
  const fs::path dir = out / ("fold_" + std::to_string(k));
  if (fs::exists(dir / "checkpoints") && !force) {
    throw ValueError(dir.string() + " is already trained; pass --force to train it again");
  }
  // Every rank of a data-parallel job checked before rank 0 clears the fold.
  if (train::Communicator* comm = train::current_communicator()) comm->barrier();
  train::run_on_main_process([&] {
    if (fs::exists(dir)) fs::remove_all(dir);
  });
  std::vector<const Item*> tr, va;
  for (std::size_t i = 0; i < items.size(); ++i) (fold[i] == k ? va : tr).push_back(&items[i]);
  logger()->info("fold {}: {} training studies, {} validation studies", k, tr.size(), va.size());
  ItemDataset train_ds(tr, config.input, true), val_ds(va, config.input, false);
  train::RandomSampler train_sampler(train_ds.size(), config.data.batch_size, true, config.train.seed + k);
  train::RandomSampler val_sampler(val_ds.size(), config.data.batch_size, false, config.train.seed);
  seed_everything(config.train.seed + static_cast<uint64_t>(k));
  auto model = make_model(config.model, true);
  train::LossFn loss = train::make_loss(config.loss);
  if (config.consistency > 0) loss = train::with_regularizer(loss, adjacent_level_consistency, config.consistency);
  train::MetricsFn metrics = [](const train::EvalOutputs& o) {
    const torch::Tensor p = torch::softmax(o.outputs.reshape({-1, 25, 3}), -1);
    const auto rows = competition_rows(p, o.patient_ids, o.targets.reshape({-1, 25}), o.masks.reshape({-1, 25}));
    if (rows.empty()) return std::map<std::string, double>{{"val_score", std::nan("")}};
    return score_metrics(eval::rsna_lumbar_score(rows));
  };
  const InputOptions in = config.input;
  // Each fold its own random streams (augmentation, dropout masks), as its sampler and weights.
  train::TrainOptions fold_train = config.train;
  fold_train.seed = config.train.seed + static_cast<uint64_t>(k);
  train::Trainer trainer(model, [model, in](const train::Batch& b) { return run_model(*model, b.input, b.meta, in); }, loss,
                         config.optim, config.scheduler, train::Curriculum(config.curriculum), fold_train, dir,
                         config.yaml);
  trainer.fit(train_ds, train_sampler, &val_ds, &val_sampler, metrics);

  const torch::Tensor p = oof_probabilities(config, va, dir);
  std::vector<eval::LumbarRow> scored;
  const std::vector<OofRow> rows = oof_rows(va, p, k, scored);
  train::run_on_main_process([&] { write_oof(dir / "oof.csv", rows, true); });
  const auto s = eval::rsna_lumbar_score(scored);
  const double v = s.score.defined() ? s.score.value() : std::nan("");
  logger()->info("fold {}: out-of-fold score {} ({} studies)", k, detail::num(v), va.size());
  return v;
}

}  // namespace

double train(const LumbarConfig& requested, const TrainRequest& request, const std::vector<int>& only,
             const fs::path& localizer_from) {
  const fs::path& out = request.out;
  const bool force = request.force;
  LumbarConfig config = requested;  // config.yaml stays the config's whatever the device: runs are portable
  if (!request.device.empty()) config.train.device = request.device;
  if (out.empty()) throw ValueError("train: no run directory given (--out)");
  if (config.data.dir.empty()) throw ValueError("train: no dataset folder (--data or data.dir)");
  const LumbarDataset ds = read_dataset(config.data.dir, "train", true);
  std::vector<std::string> ids;
  for (const auto& l : ds.labels) ids.push_back(l.study_id);
  // In a data-parallel job every rank checks before rank 0 writes the run's files; the others
  // wait for them (run_on_main_process) and read them.
  train::Communicator* comm = train::communicator(train::parse_device(config.train.device));
  check_run_dir(config, out, only, force, localizer_from);
  if (comm) comm->barrier();
  train::run_on_main_process([&] {
    start_run_dir(config, out, localizer_from);
    run_folds(config, ds, ids, out);
  });
  const std::vector<int> fold = run_folds(config, ds, ids, out);
  if (!fs::is_regular_file(best_checkpoint(out / "localizer")) || (force && localizer_from.empty())) {
    train::run_on_main_process([&] {
      if (fs::exists(out / "localizer")) fs::remove_all(out / "localizer");
    });
    train_localizer(config, ds, ids, fold, out);
  }
  const Localizer loc = load_localizer(out, config);
  const std::vector<Item> items = classifier_inputs(config, ds, ids, out, loc);
  train::run_on_main_process([&] {
    write_file_atomic(out / "input_preview.png",
                      input_preview_png(items.at(0).labelled, config.input, margin_px(config.input)), Overwrite::kAllow);
  });

  std::vector<int> todo = only;
  if (todo.empty()) {
    for (int k = 0; k < config.data.folds; ++k) todo.push_back(k);
  }
  double total = 0;
  for (int k : todo) total += train_fold(config, items, fold, k, out, force);
  return total / static_cast<double>(todo.size());
}

}  // namespace tomograd::tasks::lumbar
