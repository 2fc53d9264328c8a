// The training skeleton of the slice-model tasks (bmd, metastasis).
#include "tomograd/tasks/common/train_slice.hpp"

#include "common.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::tasks {

train::TrainOptions train_options(const TrainingSections& sections, const TrainRequest& request) {
  train::TrainOptions o = sections.train;
  if (!request.device.empty()) o.device = request.device;
  return o;
}

train::RunDir open_training_run(const TrainRequest& request, const train::TrainOptions& options,
                                const std::vector<std::string>& resume_needs) {
  // Every rank checks before any writes: a failing check on one rank reaches the others at the
  // barrier (the app reports it to its peers).
  train::Communicator* comm = train::communicator(train::parse_device(options.device));
  train::RunDir run = train::RunDir::for_training(request.out, request.resume, request.force, resume_needs);
  if (comm) comm->barrier();
  return run;
}

train::TrainSummary train_slice_model(const TrainRequest& request, const train::RunDir& run, SliceTrainJob job) {
  const TrainingSections& sections = *job.sections;
  const train::TrainOptions options = train_options(sections, request);
  train::run_on_main_process([&] {
    run.create();
    if (!request.resume && job.write_run_files) job.write_run_files(run);
  });
  auto policy = job.prep->augment.enabled
                    ? std::make_shared<const preprocess::AugmentationPolicy>(job.prep->augment)
                    : nullptr;
  StudySliceDataset train_ds(std::move(job.train), job.prep->slices, policy);
  StudySliceDataset val_ds(std::move(job.val), job.prep->slices);
  logger()->info("{} training patients ({} slices), {} validation patients ({} slices){}", train_ds.studies().size(),
                 train_ds.size(), val_ds.studies().size(), val_ds.size(), job.summary_suffix);
  const std::unique_ptr<train::Sampler> train_sampler = job.sampler(train_ds, true);
  const std::unique_ptr<train::Sampler> val_sampler = job.sampler(val_ds, false);

  // The initial weights come from the seed too, so a run is reproducible from its config.
  seed_everything(options.seed);
  auto model = detail::build_model(sections.model, !request.resume);
  train::TrainerSetup setup{model,
                            [model](const train::Batch& b) { return model->forward(b.input); },
                            job.loss ? job.loss : train::make_loss(sections.loss),
                            sections.optim,
                            sections.scheduler,
                            train::Curriculum(sections.curriculum),
                            options,
                            run.path(),
                            job.config_yaml};
  train::Trainer trainer(std::move(setup));
  for (auto& sink : job.sinks) trainer.add_sink(sink);
  const bool has_val = val_ds.size() > 0;
  if (!has_val) logger()->warn("{}", job.no_val_warning);
  return trainer.fit(train_ds, *train_sampler, has_val ? &val_ds : nullptr, has_val ? val_sampler.get() : nullptr,
                     job.metrics, has_val ? job.threshold : nullptr, request.resume);
}

}  // namespace tomograd::tasks
