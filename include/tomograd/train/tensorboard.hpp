#pragma once
/// @file TensorBoard event files written natively: scalars and PNG images in TensorBoard's record
/// format, readable by TensorBoard itself (`tensorboard --logdir RUN/tensorboard`).
///
/// A file is a sequence of records: length (uint64, little-endian), masked CRC-32C of those 8
/// bytes, the serialized `Event` protobuf, masked CRC-32C of the data (TensorFlow's
/// tensorflow/core/lib/io/record_writer.cc format). The first event names the file version
/// ("brain.Event:2").
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tomograd/train/optim.hpp"
#include "tomograd/train/trainer.hpp"

namespace tomograd::train {

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of @p size bytes.
uint32_t crc32c(const void* data, std::size_t size);

/// TensorFlow's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8, so a CRC of data holding
/// CRCs stays informative.
uint32_t masked_crc32c(const void* data, std::size_t size);

/// An 8-bit image in row-major height × width × channels order (1 grey, 3 RGB, 4 RGBA).
struct Image8 {
  int height = 0, width = 0, channels = 1;
  std::vector<uint8_t> pixels;  ///< height * width * channels bytes
};

/// PNG encoding of @p image (zlib-compressed, no filtering). Throws ValueError for an empty image,
/// a channel count other than 1, 3 or 4, or a pixel buffer of the wrong size.
std::string encode_png(const Image8& image);

/// A float tensor [H,W], [1,H,W] or [3,H,W] as an 8-bit image, scaled so that its minimum is 0 and
/// its maximum 255 (a constant image is mid-grey); non-finite values are 0. A uint8 tensor is
/// taken as is. Throws ValueError for other shapes.
Image8 to_image8(const torch::Tensor& image);

/// Writes one event file in @p dir: events.out.tfevents.<unix seconds>.<host name> (plus
/// ".<n>" when that name exists). Records are appended and flushed at flush() and on
/// destruction; a reader sees every complete record of a file still being written.
class TensorBoardWriter {
 public:
  /// Creates @p dir if needed and the file with its file-version record. Throws IoError when the
  /// file cannot be created.
  explicit TensorBoardWriter(const std::filesystem::path& dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  /// A scalar (stored as float32, as TensorBoard's simple_value) under @p tag at @p step.
  /// Non-finite values are written too (TensorBoard shows them as gaps).
  void scalar(const std::string& tag, double value, int64_t step);
  /// An image under @p tag at @p step, PNG-encoded.
  void image(const std::string& tag, const Image8& image, int64_t step);
  /// Writes buffered records to disk. Throws IoError when writing failed.
  void flush();
  /// The event file.
  const std::filesystem::path& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A TrainSink that writes RUN/tensorboard/ (the Trainer attaches one on rank 0 in every run):
/// - per optimizer step: `train/step_loss` (step = global step);
/// - per epoch (step = the 0-based epoch, as history.csv's `epoch` column): every history.csv
///   column as `epoch/<column>` (train_loss, val_loss, each val_* metric, lr, samples_per_s,
///   data_wait) and `lr/<group>` for each parameter group (its prefix, or "default");
/// - at the start: up to 4 training inputs as `inputs/sample_<k>` images (centre channel, or centre
///   slice of a volume);
/// - for binary validation outputs (one logit per sample, 0/1 targets): `val/roc_curve` and
///   `val/pr_curve` images per epoch (sample level, scores = sigmoid of the logits); when a
///   patient has several samples (slices), also `val/roc_curve_patient_max` and
///   `val/pr_curve_patient_max`: one point per patient, scored by its highest sample
///   (patient_max_scores()), as MAX-pooling tasks score patients.
class TensorBoardSink : public TrainSink {
 public:
  /// @p optimizer and @p groups give the per-group rates; the optimizer must outlive the sink.
  TensorBoardSink(const std::filesystem::path& dir, const torch::optim::Optimizer* optimizer,
                  std::vector<std::string> group_names);
  void on_start(const Dataset& train) override;
  void on_step(const StepRecord& step) override;
  void on_validation(int epoch, const EvalOutputs& outputs) override;
  void on_epoch(const EpochRecord& epoch) override;
  TensorBoardWriter& writer() { return writer_; }

 private:
  TensorBoardWriter writer_;
  const torch::optim::Optimizer* optimizer_;
  std::vector<std::string> group_names_;
};

/// Per-patient scores: each patient's highest sample score and its highest label (positive when
/// any sample is), in the order patients first appear.
struct PatientScores {
  std::vector<double> scores;
  std::vector<int> labels;
  std::vector<std::string> patient_ids;
};
/// Throws ValueError when the three lists differ in length.
PatientScores patient_max_scores(const std::vector<double>& scores, const std::vector<int>& labels,
                                 const std::vector<std::string>& patient_ids);

/// The ROC (x: false positive rate, y: true positive rate) or precision–recall (x: recall, y:
/// precision) curve of @p scores against 0/1 @p labels drawn as a @p size × @p size RGB image:
/// white background, grey frame and chance line, blue curve. Empty when a class is missing.
Image8 curve_image(const std::vector<double>& scores, const std::vector<int>& labels, bool roc, int size = 256);

}  // namespace tomograd::train
