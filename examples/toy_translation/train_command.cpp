// toy_translation train: the library's training loop (seq2seq::train with seq2seq::Trainer, or
// mpi::DataParallel under mpirun) with this program's hooks: the progress line and the CSV log,
// validation (perplexity and greedy BLEU on the validation split) and the kept model, checkpoints
// that --resume continues, Ctrl-C, and the test evaluation at the end.
#include "commands.hpp"
#include "evaluation.hpp"
#include "parallel.hpp"
#include "reporting.hpp"
#include "run_files.hpp"
#include "svg.hpp"
#include "text.hpp"
#include "train_setup.hpp"

#include <seq2seq/seq2seq.hpp>
#include <seq2seq/io/checkpoint.hpp>
#include <seq2seq/io/model_file.hpp>
#if SEQ2SEQ_TOY_MPI
#include <seq2seq/distributed/data_parallel.hpp>
#endif

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <stdexcept>

namespace toy {
namespace {

namespace io = seq2seq::io;

/// One optimizer type for the four --optimizer choices, so that the optimizer, the Trainer and
/// this file's loop are compiled once rather than once per policy.
using Optimizer = seq2seq::Optimizer<seq2seq::AnyPolicy, Scalar>;

/// Where a resumed run stands: the training state file, checked against last.safetensors. Every
/// process reads it (under mpirun --out is a directory every process sees).
seq2seq::TrainProgress read_progress(const TrainRun& run, Optimizer& optimizer) {
  const fs::path state_file = run.dir / kStateFile;
  const io::TrainingState st = io::load_training_state(state_file.string(), optimizer, *run.bundle.model);
  // An optimizer without state (SGD) has no tensors whose shapes the loader could compare, so the
  // state file also records the model configuration it belongs to.
  const auto cfg = st.extra.find("model_config");
  const std::string ours = seq2seq::config_to_json(run.bundle.config);
  if (cfg == st.extra.end() || cfg->second != ours)
    throw std::runtime_error("'" + state_file.string() + "' belongs to another model (" +
                             (cfg == st.extra.end() ? std::string("no model_config") : cfg->second) + ") than '" +
                             (run.dir / kLastFile).string() + "' (" + ours + "); cannot resume");
  if (st.step != run.bundle.step)
    throw std::runtime_error("'" + (run.dir / kLastFile).string() + "' (step " + std::to_string(run.bundle.step) + ") and '" +
                             state_file.string() + "' (step " + std::to_string(st.step) +
                             ") are from different moments of training; cannot resume");
  seq2seq::TrainProgress at;
  at.step = st.step;
  at.epoch = static_cast<std::int64_t>(std::floor(st.epoch + 1e-9));
  at.batch = st.data_position;
  at.order_state = st.rng_state;
  const auto number = [&](const char* key, auto& value) {
    const auto it = st.extra.find(key);
    if (it == st.extra.end()) return;
    const std::string& v = it->second;
    const auto r = std::from_chars(v.data(), v.data() + v.size(), value);
    if (r.ec != std::errc() || r.ptr != v.data() + v.size())
      throw std::runtime_error("'" + state_file.string() + "': bad " + key + " '" + v + "'");
  };
  number("best_valid_perplexity", at.best);  // the key of older runs (metric: perplexity)
  number("best_valid_metric", at.best);
  number("stale_validations", at.stale);
  return at;
}


/// Trains with the --optimizer policy; returns the exit status.
int train_with(TrainRun& run, const seq2seq::AnyPolicy& policy) {
  Model& model = *run.bundle.model;
  const TrainSettings& s = run.settings;
  Optimizer optimizer(policy);
  seq2seq::TrainOptions options;
  options.clip = s.clip;
  options.on_non_finite = seq2seq::NonFinitePolicy::skip;
  options.max_skips_in_a_row = 10;
  options.dropout = s.dropout;
  options.dropout_seed = s.seed;
  seq2seq::Trainer<Model, seq2seq::AnyPolicy> trainer(model, optimizer, options);
  seq2seq::TrainProgress at;
  if (run.req.resume) at = read_progress(run, optimizer);
#if SEQ2SEQ_TOY_MPI
  if (const seq2seq::mpi::Communicator* comm = communicator()) {
    // A new run initialised every rank from the same seed, a resumed one read the same file:
    // this makes sure, and checks it with one all-reduce.
    comm->broadcast_parameters(model);
    comm->check_replicas(model);
  }
#endif

  using Result = seq2seq::StepResult<seq2seq::LossStats>;
  std::function<Result(const seq2seq::PairBatch&, double)> step = [&](const seq2seq::PairBatch& b, double lr) {
    return trainer.step(b, lr);
  };
#if SEQ2SEQ_TOY_MPI
  // Under mpirun every rank trains on its slice of each batch and the hook all-reduces the
  // gradients, so the processes take the steps one process would take.
  std::optional<seq2seq::mpi::DataParallel<Scalar>> dp;
  double step_seconds = 0;  // rank 0's time in training steps, for the all-reduce share
  if (communicator()) {
    dp.emplace(*communicator());
    step = [&](const seq2seq::PairBatch& b, double lr) {
      const auto t0 = std::chrono::steady_clock::now();
      const Result r = dp->step(trainer, b, lr);
      step_seconds += seconds_since(t0);
      return r;
    };
  }
#endif

  seq2seq::LoopOptions loop;
  loop.epochs = s.epochs;
  loop.batch_size = s.batch;
  loop.seed = s.seed * 0x9E3779B97F4A7C15ULL + 0x5EED;
  loop.time_budget = run.req.time_budget;
  loop.patience = static_cast<std::int64_t>(s.patience);
  loop.bucket_window = s.bucket_batches == 0 ? std::numeric_limits<std::size_t>::max() : s.bucket_batches * s.batch;
  loop.length_key = s.sort_key == "pair" ? seq2seq::LengthKey::source_then_target : seq2seq::LengthKey::source;

  const auto t_start = std::chrono::steady_clock::now();
  const double elapsed_before = run.log.empty() ? 0.0 : run.log.back().elapsed;
  const std::function<double(double)> schedule = make_schedule(s);
  const std::string curve_title = "toy_translation: " + s.data.describe();
  std::int64_t run_tokens = 0, skipped = 0;
  double window_nll = 0, window_loss = 0, first_epoch = -1;
  std::int64_t window_tokens = 0, window_steps = 0;
  auto window_start = t_start;
  EvalResult last_valid;

  seq2seq::LoopHooks<Result> hooks;
  bool stop_asked = false;  // by TrainRequest::on_log
  const auto report = [&](const LogRow& row) {
    if (run.req.on_log && !run.req.on_log(row)) stop_asked = true;
  };
  hooks.stop = [&](unsigned flags) {
    return any_process(flags | (g_stop_signal != 0 || stop_asked ? seq2seq::kStopRequested : 0u));
  };
  hooks.on_step = [&](const seq2seq::StepEvent<Result>& e) {
    if (first_epoch < 0) first_epoch = e.epoch;
    if (!e.result.applied) {
      ++skipped;
      run.progress.line("warning: step " + std::to_string(e.at.step + 1) + " has a non-finite " +
                        (std::isfinite(e.result.stats.loss) ? "gradient" : "loss") + "; skipped");
      return;
    }
    const seq2seq::LossStats& ls = e.result.stats;
    run_tokens += ls.tokens;
    window_nll += ls.nll;
    window_loss += ls.loss;
    window_tokens += ls.tokens;
    ++window_steps;
    const double run_s = seconds_since(t_start);
    if (run.progress.tty() && !run.req.quiet) {
      // ETA: the sooner of the epoch limit and the time budget, at this run's pace.
      const double done_this_run = e.epoch_after - first_epoch;
      double eta = done_this_run > 0 ? (s.epochs - e.epoch_after) * run_s / done_this_run : -1;
      if (run.req.time_budget > 0)
        eta = eta < 0 ? run.req.time_budget - run_s : std::min(eta, run.req.time_budget - run_s);
      run.progress.status("epoch " + std::to_string(e.at.epoch + 1) + "/" + fixed(std::ceil(s.epochs), 0) + " " +
                          bar(static_cast<double>(e.at.batch + 1) / static_cast<double>(e.batches), 20) + " loss " +
                          fixed(window_loss / static_cast<double>(window_steps), 2) + " ppl " +
                          fixed(std::exp(window_nll / static_cast<double>(window_tokens)), 3) + " | " +
                          format_rate(static_cast<double>(run_tokens) / std::max(run_s, 1e-9)) + " tok/s | ETA " +
                          format_duration(eta) + (s.schedule == "constant" ? std::string() : " | lr " + fmt(e.lr, 3)));
    }
    if (e.at.step % run.req.log_every == 0) {
      LogRow row;
      row.step = e.at.step;
      row.epoch = e.epoch_after;
      row.elapsed = elapsed_before + run_s;
      row.kind = "train";
      row.loss = window_loss / static_cast<double>(window_steps);
      row.perplexity = std::exp(window_nll / static_cast<double>(window_tokens));
      row.tokens_per_s = static_cast<double>(window_tokens) / std::max(seconds_since(window_start), 1e-9);
      row.lr = e.lr;
      run.log.push_back(row);
      report(row);
      if (!run.progress.tty() && !run.req.quiet)
        run.progress.line("step " + std::to_string(e.at.step) + "  epoch " + fixed(e.epoch_after, 2) + "  loss " +
                          fixed(row.loss, 3) + "  ppl " + fixed(row.perplexity, 3) + "  " + format_rate(row.tokens_per_s) +
                          " tok/s  lr " + fmt(e.lr, 3) + "  elapsed " + format_duration(row.elapsed));
      window_nll = window_loss = 0;
      window_tokens = window_steps = 0;
      window_start = std::chrono::steady_clock::now();
    }
  };
  // Validation on rank 0 (perplexity and greedy BLEU of the validation split); every rank gets
  // the metric, so all of them take the same early-stopping decision.
  const bool validates = !run.split.valid.empty();
  hooks.validate = [&](const seq2seq::TrainProgress&) {
    double metric = std::numeric_limits<double>::quiet_NaN();
    if (!validates) return metric;  // trained on every pair: nothing to validate on
    on_root("validation", [&] {
      run.progress.status("validating ...", true);
      try {
        last_valid = evaluate(run.bundle, run.split.valid, 1);
      } catch (const Interrupted&) {
        run.progress.line("validation interrupted");
        return;  // the loop sees the signal before the next batch and saves the checkpoint
      }
      metric = s.valid_metric == "bleu" ? -last_valid.bleu.bleu : last_valid.perplexity;
    });
    return from_root(metric);
  };
  hooks.checkpoint = [&](const seq2seq::TrainProgress& p, const seq2seq::CheckpointEvent& e) {
    run.bundle.step = p.step;
    on_root("saving the checkpoint", [&] {
      if (e.validated) {
        LogRow row;
        row.step = p.step;
        row.epoch = e.epoch;
        row.elapsed = elapsed_before + seconds_since(t_start);
        row.kind = "valid";
        row.loss = last_valid.nll_per_pair;
        row.perplexity = last_valid.perplexity;
        row.lr = schedule(e.epoch);
        row.bleu = last_valid.bleu.bleu;
        row.exact = last_valid.exact;
        run.log.push_back(row);
        report(row);
        const bool saved = e.best && s.keep == "best";
        run.progress.line("epoch " + fixed(e.epoch, 2) + "  valid perplexity " + fixed(last_valid.perplexity, 3) + "  BLEU " +
                          fixed(last_valid.bleu.bleu, 2) + "  exact " + fixed(100 * last_valid.exact, 1) + "%" +
                          (saved ? "  (best so far, saved " + std::string(kBestFile) + ")"
                                 : e.best ? std::string("  (best so far)") : std::string()));
        write_log(run.dir / kLogFile, run.log);
        write_curve(run.dir / kCurveFile, run.log, curve_title);
      }
      save_bundle(run.dir / kLastFile, run.bundle);
      keep_model(run, p, e);
      io::TrainingState st;
      st.step = p.step;
      st.epoch = e.epoch;
      st.data_position = p.batch;
      st.rng_state = p.order_state;
      st.extra["best_valid_metric"] = exact_decimal(p.best);
      st.extra["stale_validations"] = std::to_string(p.stale);
      st.extra["model_config"] = seq2seq::config_to_json(run.bundle.config);
      io::save_training_state((run.dir / kStateFile).string(), optimizer, model, st);
    });
  };

  if (s.subword_alpha > 0)
    hooks.epoch_pairs = [&](const seq2seq::TrainProgress& p) -> const seq2seq::PairBatch& { return sampled_pairs(run, p.epoch); };

  seq2seq::StopReason why;
  try {
    why = seq2seq::train(run.train, step, schedule, loop, at, hooks);
  } catch (const seq2seq::NonFiniteError& e) {
    throw std::runtime_error(std::string(e.what()) + "; the last checkpoint in '" + run.dir.string() + "' is untouched");
  }

  const double run_s = seconds_since(t_start);
  std::string reason;
  switch (why) {
    case seq2seq::StopReason::epochs: reason = "reached --epochs " + fixed(s.epochs, 2); break;
    case seq2seq::StopReason::time_budget: reason = "time budget of " + fmt(run.req.time_budget, 6) + " s used"; break;
    case seq2seq::StopReason::early_stopping: reason = "early stopping"; break;
    case seq2seq::StopReason::interrupted: reason = "interrupted"; break;
  }
  run.progress.line("stopped: " + reason + " after step " + std::to_string(at.step) + "; this run trained " +
                    format_duration(run_s) + " at " + format_rate(static_cast<double>(run_tokens) / std::max(run_s, 1e-9)) +
                    " target tokens/s" + (skipped ? " (" + std::to_string(skipped) + " non-finite steps skipped)" : ""));
#if SEQ2SEQ_TOY_MPI
  if (dp && dp->timing().steps > 0) {
    // Rank 0's view: the hook's first exchange (counts) also waits for the slowest rank's backward
    // pass; packing and the gradient all-reduce are the communication proper.
    const seq2seq::mpi::DataParallelTiming& t = dp->timing();
    const double n = static_cast<double>(t.steps);
    const double hook_ms = 1e3 * t.total / n, wait_ms = 1e3 * t.counts / n, reduce_ms = 1e3 * (t.pack + t.reduce) / n;
    const double step_ms = 1e3 * step_seconds / n;
    run.progress.line("data-parallel: " + std::to_string(process_count()) + " processes, " +
                      std::to_string(seq2seq::parameter_count(model)) + " parameters; per step " + fixed(step_ms, 2) +
                      " ms, of which gradient exchange " + fixed(hook_ms, 2) + " ms (" +
                      fixed(100.0 * hook_ms / std::max(step_ms, 1e-9), 1) + "%: " + fixed(wait_ms, 2) +
                      " ms waiting for the slowest rank, " + fixed(reduce_ms, 2) + " ms packing and all-reduce)");
  }
#endif
  on_root("writing the log", [&] {
    write_log(run.dir / kLogFile, run.log);
    write_curve(run.dir / kCurveFile, run.log, curve_title);
  });
  if (why == seq2seq::StopReason::interrupted) {
    std::cerr << "checkpoint saved in '" << run.dir.string() << "'; continue with: " << kProgram << " train --resume --out "
              << run.req.out << "\n";
    return 130;
  }
  return 0;
}

}  // namespace

int run_train(const TrainRequest& req, const std::map<std::string, bool>& given) {
  TrainRun run;
  run.req = req;
  run.dir = fs::path(req.out);
  run.progress = Progress(isatty(STDERR_FILENO) != 0);
  prepare(run, given);

  // Ctrl-C and SIGTERM stop the loop between batches (and the evaluations after it).
  const StopSignalScope stop_signals;
  seq2seq::AnyPolicy policy;
  try {
    policy = seq2seq::AnyPolicy::from_name(run.settings.optimizer);
  } catch (const std::invalid_argument&) {
    throw UsageError("unknown --optimizer '" + run.settings.optimizer + "' (sgd, momentum, adam or adagrad)");
  }
  {
    // bf16 operands for the training step's products only; the test evaluation below is float.
    const seq2seq::Bf16ProductsScope products(run.settings.precision == "bf16");
    if (const int status = train_with(run, policy); status != 0) return status;
  }
  if (g_stop_signal != 0) {  // arrived after the last batch, during the final validation
    std::cerr << "interrupted; the checkpoint in '" << run.dir.string() << "' is saved\n";
    return 130;
  }
  if (!is_root()) return 0;  // the test evaluation is rank 0's

  // Final report: the kept model on the test split.
  std::error_code ec;
  if (run.split.test.empty()) {
    std::cout << "no test split (--test-fraction 0 and no --test file): skipping the test evaluation\n";
    return 0;
  }
  if (!fs::exists(run.dir / kBestFile, ec)) {
    std::cout << "no model has been kept yet: skipping the test evaluation\n";
    return 0;
  }
  const Bundle best = load_bundle(run.dir / kBestFile);
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t beam = run.bundle.settings.beam;
  const EvalResult r = evaluate(best, run.split.test, beam);
  const std::string kept = run.settings.keep == "average" && best.notes.count("averaged_from")
                               ? "average of " + best.notes.at("averaged_from")
                           : run.settings.keep == "best" ? "best " + run.settings.valid_metric + " model of step " + std::to_string(best.step)
                                                         : "last model, step " + std::to_string(best.step);
  std::cout << "test (" << (beam <= 1 ? std::string("greedy") : "beam " + std::to_string(beam)) << ", " << kept
            << "): " << describe_eval(r) << "  [" << fixed(seconds_since(t0), 1) << " s]\n";
  print_samples(std::cout, r, req.show);
  std::cout << "files: " << (run.dir / kBestFile).string() << ", " << (run.dir / kLogFile).string() << ", "
            << (run.dir / kCurveFile).string() << "\n";
  return 0;
}

}  // namespace toy
