#pragma once
// Internals of the trainer (not installed): history.csv and checkpoints/summary.csv.
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/trainer.hpp"

namespace tomograd::train::detail {

/// Shortest "%.8g"-like text of @p v ("" for NaN and infinities).
std::string fmt(double v);

/// Writes history.csv: epoch, train_loss, val_loss, the metrics (sorted), lr, seconds,
/// samples_per_s, data_wait.
void write_history(const std::filesystem::path& file, const std::vector<EpochRecord>& rows);

/// Reads history.csv's rows up to @p up_to_epoch (0-based); none when the file is absent.
std::vector<EpochRecord> read_history(const std::filesystem::path& file, int up_to_epoch);

/// Appends {checkpoint, epoch, reason, metrics} to checkpoints/summary.csv.
void append_summary(const std::filesystem::path& file, const std::string& name, const CheckpointMeta& meta,
                    const std::string& reason);

}  // namespace tomograd::train::detail
