#pragma once
/// @file The metastasis task: patient-level brain metastasis detection from head CT.
///
/// Slices of a patient go through a 2D CNN; the patient's logit is the MAX of its slice logits and
/// the loss is computed once per patient. Data folder: DIR/CTs/<patient_id>/ (DICOM) and
/// DIR/labels.csv (patient_id,label with label 0/1). Run directory (docs/metastasis.md):
///   RUN/config.yaml, RUN/splits.csv, RUN/history.csv, RUN/train.log,
///   RUN/checkpoints/{last,best,best_val_specificity,<stage>,final}.pt (+ .json) and summary.csv,
///   RUN/eval/<split>/ (patient-level report + slice-level metrics + top slices with Grad-CAM).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tomograd/preprocess/config.hpp"
#include "tomograd/tasks/common/train_request.hpp"
#include "tomograd/tasks/training_sections.hpp"
#include "tomograd/train/trainer.hpp"

namespace tomograd::tasks::metastasis {

/// The `data` section.
struct DataOptions {
  std::string dir;                  ///< folder with CTs/ and labels.csv
  std::string images = "CTs";       ///< patient folders, relative to dir
  std::string labels = "labels.csv";///< patient_id,label; relative to dir
  std::string cache_dir;            ///< "" = $XDG_CACHE_HOME/tomograd/preprocess
  double val = 0.2;                 ///< validation fraction of each class (threshold, best checkpoint)
  /// Held-out test fraction of each class, never seen in training or model selection; 0 gives the
  /// train/validation split alone (80/20 with val 0.2), whose report then says that the threshold
  /// was tuned on the very patients it scores.
  double test = 0.2;
  uint64_t split_seed = 42;
  int patients_per_batch = 4;       ///< all slices of these patients form one batch
  bool balance_classes = false;     ///< oversample the rarer class's patients
  int min_slices = 8;               ///< fewer slices: a localizer/scout, not a head CT volume
  int threads = 0;                  ///< preprocessing threads (0 = all cores)
  bool skip_bad = false;            ///< skip bad patients (listed) instead of stopping
};

/// The `eval` section.
struct EvalOptions {
  std::string threshold = "max_f1";  ///< youden | max_f1 | sensitivity:0.95 (chosen on validation)
  int bootstrap = 1000;
  int top_slices = 8;                ///< slices shown with Grad-CAM in report.html
};

/// A metastasis run's configuration (configs/metastasis_resnet50.yaml documents every key).
struct MetastasisConfig : TrainingSections {  // model, loss, optim, scheduler, curriculum, train
  DataOptions data;
  preprocess::PreprocessConfig prep;
  EvalOptions eval;
  std::string yaml;  ///< resolved configuration
};

/// Loads @p path with "a.b=value" @p overrides; unknown keys are errors with the dotted path;
/// data.dir and data.cache_dir are made absolute. Throws ConfigError.
MetastasisConfig load_config(const std::filesystem::path& path, const std::vector<std::string>& overrides = {});

/// One patient of a data folder.
struct Patient {
  std::string patient_id;
  std::filesystem::path path;  ///< the patient's folder
  std::string series;          ///< the CT series picked (SeriesInstanceUID), "" when not scanned yet
  int label = -1;              ///< 0/1, -1 when unknown (inference)
  std::string split;           ///< train | val | test
};

/// Reads labels.csv and the patient folders, and checks every patient: labels rows without a
/// folder, folders without a label, labels other than 0/1, patients listed twice, folders without
/// a readable DICOM series, series that are not CT or are localizers (fewer than
/// data.min_slices slices). The CT series with the most slices is picked. Problems are collected
/// as "labels.csv line N (patient P): ..." or "patient P (path): ...".
std::vector<Patient> scan_data(const DataOptions& data, bool require_labels, std::vector<std::string>& problems);

/// Patient-level split, stratified by label: of each class (in patient-id order, then shuffled
/// with seeded_shuffle() from derive_seed(@p seed, label)) the first round(test·n) patients go to
/// "test", the next round(val·n) to "val", the rest to "train". Patients that already have a
/// split keep it. Throws ValueError when val or test is negative or val + test >= 1.
void assign_splits(std::vector<Patient>& patients, double val, double test, uint64_t seed);

/// The patient logit of each patient in a batch: the MAX over its slice logits.
/// @param slice_logits [N] or [N,1]; @param patient_ids N ids (slices of a patient contiguous or not)
/// @return [P] patient logits in order of first appearance, and the ids in @p order
torch::Tensor max_pool_patients(const torch::Tensor& slice_logits, const std::vector<std::string>& patient_ids,
                                std::vector<std::string>* order = nullptr);

/// The MAX over each run of consecutive slices of one patient: the units a patient-grouped
/// training batch holds. A patient that class balancing drew twice into one batch counts twice,
/// as the sampler meant, and each run goes whole to one rank of a data-parallel job.
/// @return [R] logits, one per run, in batch order
torch::Tensor max_pool_runs(const torch::Tensor& slice_logits, const std::vector<std::string>& patient_ids);

/// `metastasis preprocess`: every patient's study into the cache. Returns the number cached.
int preprocess_data(const MetastasisConfig& config);

/// `metastasis train`: validates every patient, splits them (or reads splits.csv back to resume)
/// and trains. Throws ValueError listing every bad input (unless data.skip_bad).
train::TrainSummary train_model(const MetastasisConfig& config, const TrainRequest& request);

/// Inference result for one patient.
struct PatientScore {
  std::string patient_id;
  double probability = 0.0;    ///< sigmoid of the max slice logit
  int prediction = 0;          ///< probability >= threshold
  int top_slice = -1;          ///< slice (0-based, in the preprocessed, canonical order) with the max logit
  std::vector<std::pair<int, double>> slice_probabilities;  ///< (slice, probability), all scored slices
  int label = -1;
};


/// `metastasis infer --dicom-out DIR`: per patient, DIR/<patient>/SC0001.dcm... a DICOM Secondary
/// Capture series of its top slices (Grad-CAM overlay where the model has one, probability burned
/// in) in the source study: same PatientID and StudyInstanceUID (nothing else is copied), a new
/// series, each image referencing the source CT image(s) of its slice (README "DICOM results").
struct DicomOutOptions {
  std::filesystem::path dir;  ///< "" = no DICOM results
  int top = 0;                ///< images per patient (best slices first); 0 = the run's eval.top_slices
  bool force = false;         ///< write into a non-empty DIR, replacing files
};

/// `metastasis infer`: @p input is one patient folder or a folder of patient folders. Returns the
/// scores; writes @p output (patient_id,probability,prediction,top_slice) when not empty, and
/// @p slices_output (patient_id,slice,probability: every scored slice, so that the MAX pooling
/// behind each decision can be checked) when not empty. The model runs on @p device (auto | cpu |
/// cuda | cuda:N), whatever device it was trained on. With @p dicom.dir, also the DICOM results
/// (DicomOutOptions); that folder must be new or empty unless dicom.force.
std::vector<PatientScore> infer(const std::filesystem::path& run_or_checkpoint, const std::filesystem::path& input,
                                const std::filesystem::path& output, bool force = false, bool skip_bad = false,
                                const std::filesystem::path& slices_output = {}, const std::string& device = "auto",
                                const DicomOutOptions& dicom = {});

/// `metastasis evaluate`: patient-level metrics with bootstrap intervals at the stored threshold,
/// slice-level metrics side by side, and the highest-scoring slices with Grad-CAM overlays, in
/// RUN/eval/<split>/. @p split is train | val | test | all, or "" for the held-out test patients
/// (the validation patients when the run has none; the report then says that the threshold was
/// tuned on them). With @p data, evaluates that folder's patients (split "external"). The model
/// runs on @p device. In a data-parallel job rank 0 evaluates and the others return "" after it.
std::filesystem::path evaluate_run(const std::filesystem::path& run, const std::string& split,
                                   const std::filesystem::path& data = {}, const std::string& checkpoint = "best",
                                   bool force = false, const std::string& device = "auto");

}  // namespace tomograd::tasks::metastasis
