// toy_translation train: a run before and around its training loop: the settings, data,
// tokenizers, vocabularies and model of a new or resumed run (prepare), the learning-rate
// schedule, and the kept model (keep_model). train_command.cpp runs the loop.
#ifndef TOY_TRANSLATION_TRAIN_SETUP_HPP
#define TOY_TRANSLATION_TRAIN_SETUP_HPP

#include "commands.hpp"
#include "reporting.hpp"
#include "run_files.hpp"

#include <seq2seq/data/types.hpp>
#include <seq2seq/train/loop.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace toy {

/// The run being trained: what preparation, the hooks and the report share.
struct TrainRun {
  TrainRequest req;
  TrainSettings settings;   // of the run (recorded ones when resuming)
  Bundle bundle;
  fs::path dir;
  seq2seq::CorpusSplit split;
  seq2seq::PairBatch train;  // every training pair, encoded
  seq2seq::PairBatch sampled;  // with --subword-alpha: this epoch's sampled segmentation (sampled_pairs)
  std::vector<LogRow> log;
  Progress progress{false};
};

/// The settings, data, vocabularies and model of a new or resumed run (run.req and run.dir set);
/// prints what it found. Refuses a flag in `given` that would change a resumed run.
void prepare(TrainRun& run, const std::map<std::string, bool>& given);

/// The training pairs of epoch `epoch` with --subword-alpha: each side's tokenizer samples a
/// segmentation of every pair, seeded by (--seed, epoch), so a resumed epoch gets the same one.
/// Pairs then over --max-length are left out of that epoch. Fills and returns run.sampled.
const seq2seq::PairBatch& sampled_pairs(TrainRun& run, std::int64_t epoch);

/// A learning-rate schedule by name (--schedule), as a function of fractional epochs.
std::function<double(double)> make_schedule(const TrainSettings& s);

/// epoch<N>.safetensors: the epoch-end checkpoints that --keep average averages.
fs::path epoch_file(const fs::path& dir, std::int64_t epoch);

/// Writes model.safetensors, the kept model, after a checkpoint of last.safetensors (rank 0):
///   last     a copy of last.safetensors;
///   best     written by the checkpoint hook when the validation metric improved;
///   average  the parameter mean of the last --average epoch-end checkpoints (and of the final
///            model when training ends inside an epoch), so it is up to date after every epoch.
void keep_model(TrainRun& run, const seq2seq::TrainProgress& p, const seq2seq::CheckpointEvent& e);

}  // namespace toy

#endif  // TOY_TRANSLATION_TRAIN_SETUP_HPP
