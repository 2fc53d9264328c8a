#pragma once
/// @file `lumbar evaluate`: the out-of-fold predictions of a lumbar training run scored with the
/// competition metric (with study-bootstrap intervals), per-condition and per-level AUC, confusion
/// matrices and a classification report; and a ranked comparison of several runs.
///
/// ## Inputs
/// A run folder RUN holds `RUN/config.yaml` (`input.kind`, `model.arch` are read for the
/// comparison) and one folder per trained cross-validation fold, `RUN/fold_<K>/oof.csv` (K = 0, 1,
/// ...), the predictions for that fold's held-out studies:
///
///     study_id,condition,level,label,normal_mild,moderate,severe
///     4003253,spinal_canal_stenosis,l1_l2,0,0.91,0.07,0.02
///     4003253,left_neural_foraminal_narrowing,l5_s1,,0.30,0.50,0.20
///
/// condition and level are train.csv keys, label is 0 (Normal/Mild), 1 (Moderate), 2 (Severe) or
/// empty when the study has no label for that cell; 25 rows per study. Rows with an empty label
/// are left out of every metric and every count below.
///
/// ## Files written for each run, in RUN/eval/
/// - `metrics.json`: `score`, `spinal`, `foraminal`, `subarticular`, `any_severe_spinal` (the
///   competition metric on every labelled out-of-fold row, lower is better) each with `<key>_ci`
///   = [low, high], the 95 % percentile bootstrap interval over resampled studies (null without
///   bootstrap; `bootstrap` says resamples, seed, confidence and unit); `run`, `name`,
///   `input_kind`, `arch`; `studies` (with at least one label), `labelled_rows`,
///   `unlabelled_rows`, `folds` (the fold numbers found), `oof_files`; `auc_macro` (mean of the
///   five conditions' macro AUCs); `confusion.<condition>` (3×3 counts); `conditions.<condition>`
///   with `all` (every level) and `levels.<level>`, and `levels.<level>` (every condition), each
///   holding `n`, `weighted_log_loss` (weights 1, 2, 4 as the competition), `accuracy`
///   (arg-max), `auc_normal_mild`, `auc_moderate`, `auc_severe` (one-vs-rest) and `auc_macro`
///   (their mean; defined only when all three are). An undefined metric is null and its reason
///   is under the sibling object `undefined` (e.g. "class 2 is absent from y_true").
/// - `auc.csv`: condition,level,n,auc_normal_mild,auc_moderate,auc_severe,auc_macro; one row per
///   condition × level and one per condition with level `all`; empty cells are undefined.
/// - `confusion.csv`: condition,true,pred_normal_mild,pred_moderate,pred_severe; three rows per
///   condition (rows: true grade, columns: arg-max predicted grade).
/// - `classification_report.csv`: condition,class,precision,recall,f1,auc,support; three rows
///   per condition (precision, recall, F1 of the arg-max prediction, one-vs-rest AUC).
/// - `report.md`, `report.html`: the headline score with its interval, the four parts, the
///   per-condition/level table, the confusion matrices (tables and SVG heat maps: inline in the
///   HTML, which is self-contained, and as `plots/confusion_<condition>.svg` for the Markdown;
///   none for a condition without labelled rows) and the classification report (eval's report
///   model, eval/report_model.hpp).
///
/// ## Files written for several runs, in the output folder
/// `comparison.md`, `comparison.html`, `comparison.csv`, `comparison.json`: one row per run
/// (name = run folder name, input kind, arch, folds, studies, score [95 % CI], spinal,
/// foraminal, subarticular, any_severe_spinal, macro AUC), sorted by score ascending (lower is
/// better; runs without a score last) with the best run marked. comparison.csv columns: rank,
/// run, input_kind, arch, folds, studies, labelled_rows, score, score_ci_low, score_ci_high,
/// spinal, foraminal, subarticular, any_severe_spinal, auc_macro, best (1/0), path;
/// comparison.json: `best` (a run name or null), `bootstrap` and `runs`, each with the keys of
/// that run's metrics.json headline (score ... any_severe_spinal with `_ci`, auc_macro), rank,
/// name, path, input_kind, arch, folds, studies, labelled_rows and best.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "tomograd/tasks/lumbar/oof.hpp"

namespace tomograd::tasks::lumbar {

/// `lumbar evaluate RUN [RUN ...]`: for each run, reads every RUN/fold_*/oof.csv and writes
/// RUN/eval/ (see the file description above); with several @p runs also writes the comparison
/// files to @p out (created if needed; unused, may be empty, for one run). @p bootstrap study
/// resamples (0 = no intervals) drawn with @p seed. Returns RUN/eval for one run, else @p out.
/// Throws IoError for a run without any fold_*/oof.csv or for existing output files unless
/// @p force (checked before anything is written), CsvError for bad oof.csv rows or a
/// (study, condition, level) in two folds, ValueError for no runs, a run given twice or several
/// runs without @p out.
std::filesystem::path evaluate_runs(const std::vector<std::filesystem::path>& runs, const std::filesystem::path& out,
                                    int bootstrap, uint64_t seed, bool force);

}  // namespace tomograd::tasks::lumbar
