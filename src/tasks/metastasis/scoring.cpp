// What the metastasis pipeline's commands share: bad-input handling, the studies of a cohort,
// splits.csv, and a trained run's model scoring every slice.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "metastasis_impl.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/preprocess/cache.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/run_dir.hpp"
#include "tomograd/train/sharded.hpp"

namespace tomograd::tasks::metastasis {

void to_json(nlohmann::json& j, const PatientScore& s) {
  j = {s.patient_id, s.probability, s.prediction, s.top_slice, s.slice_probabilities, s.label};
}

void from_json(const nlohmann::json& j, PatientScore& s) {
  s.patient_id = j.at(0).get<std::string>();
  s.probability = j.at(1).get<double>();
  s.prediction = j.at(2).get<int>();
  s.top_slice = j.at(3).get<int>();
  s.slice_probabilities = j.at(4).get<std::vector<std::pair<int, double>>>();
  s.label = j.at(5).get<int>();
}

}  // namespace tomograd::tasks::metastasis

namespace tomograd::tasks::metastasis::detail {
namespace fs = std::filesystem;

/// Reports or skips bad patients: with @p skip they are listed as warnings and left out.
void handle_problems(const std::string& what, const std::vector<std::string>& problems, bool skip) {
  if (problems.empty()) return;
  if (!skip) {
    throw_if_problems(what, problems, "nothing was done (pass --skip-bad to leave them out)");
  }
  // Inside a rank's share of sharded inference rank 0 logs the lines too (train::warn_share).
  train::warn_share(what + ": skipping " + std::to_string(problems.size()) + " bad input(s):");
  for (const auto& p : problems) train::warn_share("  - " + p);
}

/// Preprocessed studies of @p patients (through the cache), their selected slices and labels.
std::vector<SliceStudy> load_studies(const MetastasisConfig& config, const std::vector<Patient>& patients,
                                     std::vector<std::string>& problems) {
  std::vector<preprocess::CacheInput> inputs;
  for (const auto& p : patients) inputs.push_back({p.patient_id, p.path, p.series});
  return tasks::detail::labelled_slice_studies(config, inputs, problems, [&](std::size_t i, SliceStudy& s) {
    const int label = patients[i].label;
    if (label >= 0) s.target = torch::tensor({static_cast<float>(label)});
    s.label = label >= 0 ? std::to_string(label) : "";
    s.cls = label;
  });
}

CsvTable splits_table(const std::vector<Patient>& patients) {
  CsvTable t({"patient_id", "split", "label", "path", "series"}, {});
  for (const auto& p : patients) t.add_row({p.patient_id, p.split, std::to_string(p.label), p.path.string(), p.series});
  return t;
}

std::vector<Patient> read_splits(const fs::path& file) {
  const CsvTable t = CsvTable::read(file);
  std::vector<Patient> out;
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    Patient p;
    p.patient_id = t.at(r, t.column_index("patient_id"));
    p.split = t.at(r, t.column_index("split"));
    p.label = std::stoi(t.at(r, t.column_index("label")));
    p.path = t.at(r, t.column_index("path"));
    p.series = t.at(r, t.column_index("series"));
    out.push_back(std::move(p));
  }
  return out;
}

Loaded load_run(const fs::path& run_or_checkpoint, const std::string& checkpoint, const std::string& device) {
  Loaded l;
  fs::path ckpt;
  std::error_code ec;
  if (fs::is_regular_file(run_or_checkpoint, ec)) {
    ckpt = run_or_checkpoint;
    l.run = train::RunDir::of_checkpoint(ckpt).path();
  } else {
    l.run = run_or_checkpoint;
  }
  const train::RunDir run =
      train::RunDir::open(l.run, {"config.yaml"}, "metastasis", "metastasis train");
  if (ckpt.empty()) ckpt = run.checkpoint(checkpoint);
  l.config = load_config(run.config_file());
  l.device = train::parse_device(device);
  l.model = tasks::detail::build_model(l.config.model, false);
  l.model->to(l.device);  // the checkpoint's tensors are mapped to the model's device
  const train::CheckpointMeta meta = train::load_checkpoint(ckpt, *l.model, nullptr, false);
  l.threshold = meta.threshold.value_or(0.5);
  l.checkpoint = ckpt.string();
  l.model->eval();
  return l;
}

/// Slice logits of every selected slice of each study.
std::vector<PatientScore> score(Loaded& l, const std::vector<SliceStudy>& studies) {
  torch::NoGradGuard no_grad;
  std::vector<PatientScore> out;
  int64_t total = 0;
  for (const auto& s : studies) total += static_cast<int64_t>(s.slices.size());
  ProgressBar bar(total, "scoring", "slices");
  for (const auto& s : studies) {
    PatientScore ps;
    ps.patient_id = s.patient_id;
    ps.label = s.cls;
    double best = -1e300;
    for (std::size_t start = 0; start < s.slices.size(); start += 32) {
      std::vector<torch::Tensor> xs;
      const std::size_t end = std::min(s.slices.size(), start + 32);
      for (std::size_t k = start; k < end; ++k) {
        xs.push_back(preprocess::stack_slices(s.data, s.slices[k], l.config.prep.slices.context,
                                              l.config.prep.slices.step));
      }
      const torch::Tensor logits = l.model->forward(torch::stack(xs).to(l.device)).reshape({-1}).to(torch::kCPU);
      for (std::size_t k = start; k < end; ++k) {
        const double z = logits[static_cast<int64_t>(k - start)].item<double>();
        ps.slice_probabilities.emplace_back(static_cast<int>(s.slices[k]), 1.0 / (1.0 + std::exp(-z)));
        if (z > best) {
          best = z;
          ps.top_slice = static_cast<int>(s.slices[k]);
        }
      }
      bar.tick(static_cast<int64_t>(end - start));
    }
    ps.probability = 1.0 / (1.0 + std::exp(-best));
    ps.prediction = ps.probability >= l.threshold ? 1 : 0;
    out.push_back(std::move(ps));
  }
  bar.finish();
  return out;
}

}  // namespace tomograd::tasks::metastasis::detail
