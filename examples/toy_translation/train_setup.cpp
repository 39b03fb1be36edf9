// toy_translation train: preparing a run and keeping its model (train_setup.hpp).
#include "train_setup.hpp"

#include "parallel.hpp"
#include "svg.hpp"
#include "text.hpp"

#include <seq2seq/seq2seq.hpp>

#include <chrono>
#include <iostream>
#include <stdexcept>

namespace toy {

std::function<double(double)> make_schedule(const TrainSettings& s) {
  if (s.schedule == "constant") return seq2seq::ConstantLR{s.lr};
  if (s.schedule == "paper") return seq2seq::PaperSchedule{s.lr, 5.0, 0.5};
  throw UsageError("unknown --schedule '" + s.schedule + "' (constant or paper)");
}

namespace {

/// Refuses a flag that would change a resumed run (rather than ignoring it silently).
void check_resume_flags(const TrainSettings& was, const TrainSettings& now, const std::map<std::string, bool>& given,
                        const std::string& out) {
  const auto differs = [&](const char* flag, bool changed, const std::string& old_value) {
    const auto it = given.find(flag);
    if (it != given.end() && it->second && changed)
      throw std::runtime_error("the checkpoint in '" + out + "' was trained with " + flag + " " + old_value +
                               "; a resumed run cannot change it (start a new run with another --out)");
  };
  differs("--preset", now.preset != was.preset, was.preset);
  differs("--embed", now.embed != was.embed, std::to_string(was.embed));
  differs("--hidden", now.hidden != was.hidden, std::to_string(was.hidden));
  differs("--layers", now.layers != was.layers, std::to_string(was.layers));
  differs("--no-reverse", now.reverse != was.reverse, was.reverse ? "source reversal" : "--no-reverse");
  differs("--optimizer", now.optimizer != was.optimizer, was.optimizer);
  differs("--lr", now.lr != was.lr, fmt(was.lr, 6));
  differs("--schedule", now.schedule != was.schedule, was.schedule);
  differs("--batch", now.batch != was.batch, std::to_string(was.batch));
  differs("--clip", now.clip != was.clip, fmt(was.clip, 6));
  differs("--seed", now.seed != was.seed, std::to_string(was.seed));
  differs("--init", now.init != was.init, fmt(was.init, 6));
  differs("--forget-bias", now.forget_bias != was.forget_bias, fmt(was.forget_bias, 6));
  differs("--corpus-seed", now.data.corpus_seed != was.data.corpus_seed, std::to_string(was.data.corpus_seed));
  differs("--valid-fraction", now.data.valid_fraction != was.data.valid_fraction, fmt(was.data.valid_fraction, 6));
  differs("--test-fraction", now.data.test_fraction != was.data.test_fraction, fmt(was.data.test_fraction, 6));
  differs("--data", now.data.data != was.data.data, "'" + was.data.data + "'");
  differs("--valid", now.data.valid != was.data.valid, "'" + was.data.valid + "'");
  differs("--test", now.data.test != was.data.test, "'" + was.data.test + "'");
  differs("--pairs", now.data.pairs != was.data.pairs, std::to_string(was.data.pairs));
  differs("--max-vocab", now.data.max_source_vocab != was.data.max_source_vocab, std::to_string(was.data.max_source_vocab));
  differs("--min-count", now.data.min_count != was.data.min_count, std::to_string(was.data.min_count));
  differs("--max-length", now.data.max_length != was.data.max_length, std::to_string(was.data.max_length));
  differs("--subwords", now.data.subwords != was.data.subwords, std::to_string(was.data.subwords));
  differs("--subwords-joint", now.data.subwords_joint != was.data.subwords_joint, was.data.subwords_joint ? "on" : "off");
  differs("--subword-type", now.data.subword_type != was.data.subword_type, was.data.subword_type);
  differs("--dropout", now.dropout != was.dropout, fmt(was.dropout, 6));
  differs("--subword-alpha", now.subword_alpha != was.subword_alpha, fmt(was.subword_alpha, 6));
  differs("--precision", now.precision != was.precision, was.precision);
  differs("--keep", now.keep != was.keep, was.keep);
  differs("--average", now.average != was.average, std::to_string(was.average));
  differs("--valid-metric", now.valid_metric != was.valid_metric, was.valid_metric);
  differs("--bucket-batches", now.bucket_batches != was.bucket_batches, std::to_string(was.bucket_batches));
  differs("--sort-key", now.sort_key != was.sort_key, was.sort_key);
}

}  // namespace

const seq2seq::PairBatch& sampled_pairs(TrainRun& run, std::int64_t epoch) {
  const TrainSettings& s = run.settings;
  std::vector<std::string> sources, targets;
  for (const Pair& p : run.split.train) sources.push_back(p.source), targets.push_back(p.target);
  const std::uint64_t seed = (s.seed * 0x9E3779B97F4A7C15ULL) ^ (static_cast<std::uint64_t>(epoch) * 0xBF58476D1CE4E5B9ULL);
  auto src = run.bundle.source_tokenizer->encode_sampled(sources, s.subword_alpha, seed);
  auto tgt = run.bundle.target_tokenizer->encode_sampled(targets, s.subword_alpha, seed + 1);
  seq2seq::max_length_filter(src, tgt, s.data.max_length, s.data.max_length);
  run.sampled.source.clear();
  run.sampled.target.clear();
  for (std::size_t i = 0; i < src.size(); ++i) {
    run.sampled.source.push_back(run.bundle.source.encode(src[i]));
    run.sampled.target.push_back(run.bundle.target.encode(tgt[i]));
  }
  return run.sampled;
}

void prepare(TrainRun& run, const std::map<std::string, bool>& given) {
  const TrainRequest& req = run.req;
  std::error_code ec;
  if (fs::exists(run.dir, ec) && !fs::is_directory(run.dir, ec))
    throw std::runtime_error("--out '" + req.out + "' exists and is not a directory");
  const bool has_run = fs::exists(run.dir / kLastFile, ec) || fs::exists(run.dir / kBestFile, ec);
  if (req.resume) {
    if (!fs::exists(run.dir / kLastFile, ec) || !fs::exists(run.dir / kStateFile, ec))
      throw std::runtime_error("nothing to resume in '" + req.out + "' (no " + kLastFile + " and " + kStateFile + ")");
    run.bundle = load_bundle(run.dir / kLastFile);
    check_resume_flags(run.bundle.settings, req.settings, given, req.out);
    if (given.count("--epochs") && given.at("--epochs")) run.bundle.settings.epochs = req.settings.epochs;
    if (given.count("--beam") && given.at("--beam")) run.bundle.settings.beam = req.settings.beam;
    if (given.count("--patience") && given.at("--patience")) run.bundle.settings.patience = req.settings.patience;
    run.log = read_log(run.dir / kLogFile, run.bundle.step);
  } else if (has_run && !req.overwrite) {
    throw std::runtime_error("'" + req.out + "' already holds a training run; continue it with --resume, or start again with --overwrite");
  }
  const TrainSettings& s = run.settings = req.resume ? run.bundle.settings : req.settings;

  std::cerr << "data: " << s.data.describe() << "\n";
  run.split = load_splits(s.data);
  if (!req.resume) {
    // Tokenizers first (SentencePiece trains on the training split here): they decide the tokens.
    const auto t0 = std::chrono::steady_clock::now();
    seq2seq::io::Tokenizers t = make_tokenizers(s.data, run.split.train);
    run.bundle.source_tokenizer = std::move(t.source);
    run.bundle.target_tokenizer = std::move(t.target);
    if (s.data.subwords != 0)
      std::cerr << "subwords: SentencePiece " << s.data.subword_type << ", " << s.data.subwords << " pieces "
                << (s.data.subwords_joint ? "shared by both sides" : "per side") << ", trained on the training split in "
                << fixed(seconds_since(t0), 1) << " s\n";
  }
  std::cerr << "tokenizer: source " << run.bundle.source_tokenizer->describe() << "; target "
            << run.bundle.target_tokenizer->describe() << "\n";
  std::vector<std::vector<std::string>> src, tgt;
  for (const Pair& p : run.split.train) {
    src.push_back(tokens_of(*run.bundle.source_tokenizer, p.source));
    tgt.push_back(tokens_of(*run.bundle.target_tokenizer, p.target));
  }
  if (!req.resume) {
    run.bundle.source = seq2seq::build_vocab(*run.bundle.source_tokenizer, src, s.data.max_source_vocab, s.data.min_count);
    run.bundle.target = seq2seq::build_vocab(*run.bundle.target_tokenizer, tgt, s.data.max_target_vocab, s.data.min_count);
  }
  const std::size_t dropped = seq2seq::max_length_filter(src, tgt, s.data.max_length, s.data.max_length);
  for (std::size_t i = 0; i < src.size(); ++i) {
    run.train.source.push_back(run.bundle.source.encode(src[i]));
    run.train.target.push_back(run.bundle.target.encode(tgt[i]));
  }
  if (run.train.size() == 0) throw std::runtime_error("no training pair is within --max-length " + std::to_string(s.data.max_length));
  if (!req.resume && req.shortlist_k > 0) {
    // The target words each source word is likely to become (IBM Model 1), stored with the model
    // for translate --shortlist and eval --shortlist.
    seq2seq::ShortlistOptions so;
    so.k = req.shortlist_k;
    so.frequent = req.shortlist_frequent;
    run.bundle.notes[kShortlistNote] =
        seq2seq::Shortlist::learn(run.train.source, run.train.target, run.bundle.source.size(), run.bundle.target.size(), so)
            .to_text(run.bundle.source, run.bundle.target);
  }
  std::cerr << "pairs: " << run.split.train.size() << " train, " << run.split.valid.size() << " valid, "
            << run.split.test.size() << " test (no source sentence in two splits)";
  if (dropped) std::cerr << "; " << dropped << " training pairs over --max-length " << s.data.max_length << " dropped";
  std::cerr << "\nvocabulary: " << run.bundle.source.size() << " source, " << run.bundle.target.size()
            << " target tokens (4 special tokens included)\n";
  {
    std::size_t tokens = 0, unknown = 0;
    for (const Sentence& t : run.train.target)
      for (seq2seq::TokenId id : t) tokens += 1, unknown += id == seq2seq::Special::unk ? 1 : 0;
    std::cerr << "training targets: " << tokens << " tokens, " << fixed(static_cast<double>(tokens) / static_cast<double>(std::max<std::size_t>(run.train.size(), 1)), 2)
              << " per sentence, " << unknown << " <unk>\n";
  }

  if (!req.resume) {
    seq2seq::ModelConfig c;
    c.source_vocab = static_cast<Index>(run.bundle.source.size());
    c.target_vocab = static_cast<Index>(run.bundle.target.size());
    c.embed = s.embed;
    c.hidden = s.hidden;
    c.layers = s.layers;
    c.reverse_source = s.reverse;
    c.max_length = static_cast<Index>(s.data.max_length);
    run.bundle.config = c;
    run.bundle.settings = s;
    run.bundle.model = std::make_unique<Model>(c);
    seq2seq::Rng init_rng(s.seed);
    seq2seq::init_uniform(*run.bundle.model, init_rng, s.init);
    if (s.forget_bias != 0) {
      run.bundle.model->encoder().stack().set_forget_bias(static_cast<Scalar>(s.forget_bias));
      run.bundle.model->decoder().stack().set_forget_bias(static_cast<Scalar>(s.forget_bias));
    }
  }
  std::cerr << "model: " << s.layers << " layers x " << s.hidden << " cells, " << s.embed << "-d embeddings, source "
            << (s.reverse ? "reversed" : "not reversed") << ", " << seq2seq::parameter_count(*run.bundle.model)
            << " parameters\n"
            << "training: " << s.optimizer << " lr " << fmt(s.lr, 4) << " (" << s.schedule << " schedule), batch "
            << s.batch << ", clip " << fmt(s.clip, 3) << (s.dropout > 0 ? ", dropout " + fmt(s.dropout, 3) : std::string())
            << (s.subword_alpha > 0 ? ", subwords sampled each epoch (alpha " + fmt(s.subword_alpha, 3) + ")" : std::string())
            << (s.precision == "bf16" ? ", bf16 products" : std::string()) << ", up to " << fmt(s.epochs, 4) << " epochs"
            << (req.time_budget > 0 ? ", time budget " + fmt(req.time_budget, 6) + " s" : std::string()) << ", threads "
            << Eigen::nbThreads() << (req.resume ? ", resuming at step " + std::to_string(run.bundle.step) : std::string())
            << (process_count() > 1 ? ", " + std::to_string(process_count()) +
                                          " processes (data-parallel: each trains on a slice of every batch)"
                                    : std::string())
            << "\n";
  if (!req.resume) {
    // Only now, with the data read and the model made, is an older run in --out replaced.
    on_root("preparing --out", [&] {
      fs::create_directories(run.dir);
      for (const char* f : {kBestFile, kLastFile, kStateFile, kLogFile, kCurveFile}) fs::remove(run.dir / f, ec);
      for (const auto& entry : fs::directory_iterator(run.dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("epoch", 0) == 0 && entry.path().extension() == ".safetensors") fs::remove(entry.path(), ec);
      }
    });
  }
}
fs::path epoch_file(const fs::path& dir, std::int64_t epoch) { return dir / ("epoch" + std::to_string(epoch) + ".safetensors"); }

void keep_model(TrainRun& run, const seq2seq::TrainProgress& p, const seq2seq::CheckpointEvent& e) {
  const TrainSettings& s = run.settings;
  if (s.keep == "best") {
    if (e.best) fs::copy_file(run.dir / kLastFile, run.dir / kBestFile, fs::copy_options::overwrite_existing);
    return;
  }
  if (s.keep == "last") {
    fs::copy_file(run.dir / kLastFile, run.dir / kBestFile, fs::copy_options::overwrite_existing);
    return;
  }
  // average: an interruption leaves the kept model as it was (it resumes into the same epoch).
  if (!e.epoch_end && (!e.trained || e.reason == seq2seq::StopReason::interrupted)) return;
  const auto n = static_cast<std::int64_t>(s.average);
  std::vector<std::string> files;
  std::error_code ec;
  if (e.epoch_end) {
    fs::copy_file(run.dir / kLastFile, epoch_file(run.dir, p.epoch), fs::copy_options::overwrite_existing);
    fs::remove(epoch_file(run.dir, p.epoch - n), ec);
  } else {
    files.push_back((run.dir / kLastFile).string());  // the final model counts as the newest checkpoint
  }
  for (std::int64_t k = p.epoch; k > p.epoch - n && static_cast<std::int64_t>(files.size()) < n && k > 0; --k)
    if (fs::exists(epoch_file(run.dir, k), ec)) files.push_back(epoch_file(run.dir, k).string());
  if (files.size() == 1) {
    fs::copy_file(files.front(), run.dir / kBestFile, fs::copy_options::overwrite_existing);
    return;
  }
  Bundle avg = average_bundles(files);
  avg.settings = run.bundle.settings;
  avg.step = p.step;
  nlohmann::json from = nlohmann::json::array();
  for (const std::string& f : files) from.push_back(fs::path(f).filename().string());
  avg.notes["averaged_from"] = from.dump();
  save_bundle(run.dir / kBestFile, avg);
}

}  // namespace toy
