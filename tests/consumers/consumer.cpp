// A downstream program, shared by every consumer test (find_package, add_subdirectory,
// FetchContent, pkg-config). It includes every public header group, so a header missing from the
// installed tree fails to compile, then builds a tiny model, trains it, translates, saves and
// reloads a model file with its vocabularies (which exercises the nlohmann_json dependency). Exit
// status 0 on success; otherwise 1 and a message on stderr.
//
// Built with -DSEQ2SEQ_CONSUMER_KIND="..." (for the messages) and optionally
// -DSEQ2SEQ_EXPECTED_VERSION="x.y.z" (the version the build system found). Linked with
// seq2seq::sentencepiece (which defines SEQ2SEQ_WITH_SENTENCEPIECE) it also trains a SentencePiece
// model, carries it in the model file and rebuilds it from the reloaded file's metadata; linked with
// seq2seq::dnnl (SEQ2SEQ_USE_DNNL) it checks that a large product runs on oneDNN's sgemm.
#include <seq2seq/data/data.hpp>
#include <seq2seq/eval/eval.hpp>
#include <seq2seq/io/checkpoint.hpp>
#include <seq2seq/io/model_file.hpp>
#include <seq2seq/optim/optim.hpp>
#include <seq2seq/seq2seq.hpp>
#include <seq2seq/train.hpp>
#if defined(SEQ2SEQ_WITH_SENTENCEPIECE) && SEQ2SEQ_WITH_SENTENCEPIECE
#include <seq2seq/data/sentencepiece.hpp>
#endif

#include <cmath>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#ifndef SEQ2SEQ_CONSUMER_KIND
#define SEQ2SEQ_CONSUMER_KIND "unknown"
#endif

namespace {

// Dynamic sizes: one instantiation, sizes from the configuration.
using Cell = seq2seq::LSTMCell<float, Eigen::Dynamic, Eigen::Dynamic>;
using Stack = seq2seq::StackedLSTM<Cell, Eigen::Dynamic>;
using Model = seq2seq::Seq2Seq<seq2seq::Encoder<Stack>, seq2seq::Decoder<Stack>>;

int fail(const std::string& what) {
  std::cerr << "consumer (" << SEQ2SEQ_CONSUMER_KIND << "): FAILED: " << what << '\n';
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
#ifdef SEQ2SEQ_EXPECTED_VERSION
    if (std::string(SEQ2SEQ_VERSION_STRING) != SEQ2SEQ_EXPECTED_VERSION)
      return fail(std::string("the headers say version ") + SEQ2SEQ_VERSION_STRING + ", the build system found " +
                  SEQ2SEQ_EXPECTED_VERSION);
#endif
    // Two words per language beyond the four special tokens; the task is to reverse a sequence.
    const std::vector<std::vector<std::string>> words = {{"a", "b", "c", "d"}};
    const seq2seq::Vocab vocab = seq2seq::Vocab::build(words);

    seq2seq::ModelConfig config;
    config.source_vocab = config.target_vocab = static_cast<seq2seq::Index>(vocab.size());
    config.embed = 8;
    config.hidden = 12;
    config.layers = 2;
    Model model(config);
    seq2seq::Rng rng(7);
    seq2seq::init_uniform(model, rng);

    const seq2seq::Sentence abc = vocab.encode({"a", "b", "c"});
    seq2seq::PairBatch batch;
    batch.source = {abc, vocab.encode({"b", "d"})};
    batch.target = {vocab.encode({"c", "b", "a"}), vocab.encode({"d", "b"})};

    seq2seq::Optimizer<seq2seq::Adam, float> adam;
    seq2seq::Trainer<Model, seq2seq::Adam> trainer(model, adam);
    const double first = trainer.step(batch, 0.02).stats.loss;
    double last = first;
    for (int step = 0; step < 100; ++step) last = trainer.step(batch, 0.02).stats.loss;
    if (!(std::isfinite(last) && last < 0.5 * first))
      return fail("the loss did not fall: " + std::to_string(first) + " -> " + std::to_string(last));

    const std::vector<seq2seq::Hypothesis> best = model.translate(abc);
    const std::string text = seq2seq::detokenize(vocab.decode(best.front().tokens));
    if (text != "c b a") return fail("'a b c' translates to '" + text + "', not 'c b a'");

    // Model-file round trip next to the executable (argv[0]'s directory is the build directory):
    // parameters, configuration and vocabularies, then text translated by the reloaded model.
    std::string path = std::string(argc > 0 ? argv[0] : "consumer") + ".safetensors";
    seq2seq::io::save_model(path, model, vocab, vocab, {{"kind", SEQ2SEQ_CONSUMER_KIND}});
    const seq2seq::io::LoadedModel<Model> reloaded = seq2seq::io::load_model<Model>(path);
    std::remove(path.c_str());
    const double s1 = model.score(abc, best.front().tokens), s2 = reloaded.model.score(abc, best.front().tokens);
    if (reloaded.metadata.at("kind") != SEQ2SEQ_CONSUMER_KIND || s1 != s2)
      return fail("checkpoint round trip: score " + std::to_string(s1) + " before, " + std::to_string(s2) + " after");
    const seq2seq::Sentence again = reloaded.source_vocab.encode(seq2seq::tokenize("A B C"));
    const std::string text2 =
        seq2seq::detokenize(reloaded.target_vocab.decode(reloaded.model.translate(again).front().tokens));
    if (text2 != text) return fail("the reloaded model translates 'A B C' to '" + text2 + "'");

#if defined(SEQ2SEQ_USE_DNNL)
    {
      // Linked with seq2seq::dnnl: the products large enough for the driver go to dnnl_sgemm, and
      // those with a transposed left operand to oneDNN's matmul.
      if (std::string(seq2seq::gemm_backend()) != "oneDNN")
        return fail(std::string("seq2seq::dnnl is linked, but gemm_backend() is ") + seq2seq::gemm_backend());
      seq2seq::Rng g(3);
      seq2seq::Matrix<float> A(96, 80), B(80, 72), C(96, 72);
      for (seq2seq::Matrix<float>* m : {&A, &B})
        for (seq2seq::Index k = 0; k < m->size(); ++k) m->data()[k] = static_cast<float>(g.uniform(-1, 1));
      seq2seq::detail::gemm(seq2seq::detail::Op::N, A, seq2seq::detail::Op::N, B, C, false);
      const float err = (C - A.lazyProduct(B)).cwiseAbs().maxCoeff();
      if (!(err < 1e-4f)) return fail("dnnl_sgemm's product differs from Eigen's by " + std::to_string(err));
      const seq2seq::Matrix<float> At = A.transpose();
      C.setZero();
      seq2seq::detail::gemm(seq2seq::detail::Op::T, At, seq2seq::detail::Op::N, B, C, false);
      const float err_t = (C - A.lazyProduct(B)).cwiseAbs().maxCoeff();
      if (!(err_t < 1e-4f)) return fail("oneDNN's matmul differs from Eigen's product by " + std::to_string(err_t));
    }
#endif
    std::string subwords = std::string("products: ") + seq2seq::gemm_backend() + ", no SentencePiece";
#if defined(SEQ2SEQ_WITH_SENTENCEPIECE) && SEQ2SEQ_WITH_SENTENCEPIECE
    {
      // The word tokenizer and a SentencePiece model travel in the file; load_tokenizers rebuilds them.
      std::vector<std::string> text;
      for (const char* s : {"the cat sees the dog", "the dog sees the cat", "a cat and a dog", "le chat voit le chien",
                            "le chien voit le chat", "un chat et un chien"})
        text.emplace_back(s);
      seq2seq::SentencePieceOptions o;
      o.vocab_size = 20;
      const seq2seq::SentencePieceTokenizer sp = seq2seq::SentencePieceTokenizer::train(text, o);
      seq2seq::io::save_model(path, model, vocab, vocab, seq2seq::io::tokenizer_metadata(seq2seq::WordTokenizer(), sp));
      const seq2seq::io::Tokenizers t = seq2seq::io::load_tokenizers(seq2seq::io::load_model<Model>(path).metadata);
      std::remove(path.c_str());
      const std::string back = t.target->decode(t.target->encode("le chat voit un chien"));
      if (t.target->kind() != "sentencepiece" || back != "le chat voit un chien")
        return fail("SentencePiece round trip through the model file gave '" + back + "'");
      subwords = std::string("products: ") + seq2seq::gemm_backend() + ", SentencePiece " + std::to_string(sp.piece_count()) +
                 " pieces round-tripped";
    }
#endif
    std::cout << "consumer (" << SEQ2SEQ_CONSUMER_KIND << "): " << subwords << ", seq2seq " << SEQ2SEQ_VERSION_STRING << ", loss "
              << first << " -> " << last << ", 'a b c' -> '" << text << "', log p = " << s1 << '\n';
    return 0;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
