#pragma once
// The config sections every slice task (bmd, metastasis) reads, in one place: not installed.
#include "tomograd/core/config.hpp"
#include "tomograd/preprocess/config.hpp"
#include "tomograd/tasks/training_sections.hpp"

namespace tomograd::tasks::detail {

/// Reads data (@p read_data), preprocess and slices, the training sections (model, loss, optim,
/// scheduler, train, curriculum) and eval (@p read_eval) from @p r, then refuses unknown keys.
template <class Config, class ReadData, class ReadEval>
Config read_slice_task_sections(ConfigReader& r, ReadData read_data, ReadEval read_eval) {
  Config c;
  c.data = read_data(r.child("data"));
  c.prep = preprocess::read_preprocess_config(r);
  static_cast<TrainingSections&>(c) = read_training_sections(r);
  c.eval = read_eval(r.child("eval"));
  r.finish();
  return c;
}

}  // namespace tomograd::tasks::detail
