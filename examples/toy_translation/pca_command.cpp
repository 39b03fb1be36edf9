// toy_translation pca: the encoder's sentence vectors projected on their two main directions, as
// an SVG picture (the paper's Figure 2).
#include "commands.hpp"
#include "model_ops.hpp"
#include "reporting.hpp"
#include "run_files.hpp"
#include "svg.hpp"
#include "text.hpp"

#include <Eigen/Eigenvalues>

#include <iostream>
#include <stdexcept>
#include <utility>

namespace toy {
namespace {

/// Sentences for the PCA picture when none are given: pairs that differ only in who does what to
/// whom, and in tense, as in the paper's Figure 2.
std::vector<std::pair<std::string, int>> default_pca_sentences() {
  std::vector<std::pair<std::string, int>> out;
  const char* verbs[][3] = {{"sees", "saw", "will see"}, {"likes", "liked", "will like"}, {"chases", "chased", "will chase"},
                            {"helps", "helped", "will help"}};
  for (const auto& v : verbs) {
    out.emplace_back(std::string("the dog ") + v[0] + " the cat", 0);
    out.emplace_back(std::string("the cat ") + v[0] + " the dog", 1);
    out.emplace_back(std::string("the dog ") + v[1] + " the cat", 0);
    out.emplace_back(std::string("the cat ") + v[1] + " the dog", 1);
    out.emplace_back(std::string("the dog ") + v[2] + " the cat", 0);
    out.emplace_back(std::string("the cat ") + v[2] + " the dog", 1);
  }
  return out;
}

}  // namespace

int run_pca(const std::string& model_path, const std::string& input, const std::string& svg, const std::string& state_kind) {
  const Bundle b = load_bundle(resolve_model_path(model_path));
  std::vector<std::pair<std::string, int>> sentences;
  if (input.empty()) {
    if (!b.settings.data.data.empty())
      throw UsageError("this model was trained on '" + b.settings.data.data + "': give the sentences to plot with --input FILE");
    sentences = default_pca_sentences();
  } else {
    LineSource in(input);
    std::string line;
    while (in.next(line)) {
      // Optional "<TAB>group" after the sentence picks the colour.
      int group = 0;
      const std::size_t tab = line.find('\t');
      if (tab != std::string::npos) {
        try {
          group = std::stoi(line.substr(tab + 1));
        } catch (const std::exception&) {
          throw std::invalid_argument(in.name() + ":" + std::to_string(in.number()) + ": the field after the tab must be a group number");
        }
        line.erase(tab);
      }
      if (tokens_of(*b.source_tokenizer, line).empty()) continue;
      sentences.emplace_back(line, group);
    }
  }
  if (sentences.size() < 3) throw std::invalid_argument("the PCA needs at least 3 sentences, got " + std::to_string(sentences.size()));

  // One row per sentence: the paper's v (every layer's h and c) or the top layer's h only.
  const Index L = b.config.layers, H = b.config.hidden;
  const bool all = state_kind == "all";
  if (!all && state_kind != "top")
    throw UsageError("--state must be 'all' (every layer's h and c) or 'top' (the top layer's h)");
  const Index D = all ? 2 * L * H : H;
  Eigen::MatrixXd X(static_cast<Index>(sentences.size()), D);
  Model::Workspace ws;
  for (std::size_t i = 0; i < sentences.size(); ++i) {
    Sentence src;
    try {
      src = encode_source(b, sentences[i].first);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("sentence " + std::to_string(i + 1) + " (\"" + sentences[i].first + "\"): " + e.what());
    }
    Model::State v;
    encode(*b.model, src, ws, v);
    const Index row = static_cast<Index>(i);
    if (all) {
      for (Index l = 0; l < L; ++l) {
        X.row(row).segment(2 * l * H, H) = v.h[static_cast<std::size_t>(l)].col(0).cast<double>().transpose();
        X.row(row).segment(2 * l * H + H, H) = v.c[static_cast<std::size_t>(l)].col(0).cast<double>().transpose();
      }
    } else {
      X.row(row) = v.h.back().col(0).cast<double>().transpose();
    }
  }
  // PCA: eigenvectors of the covariance (D x D) of the centred rows; the two with the largest
  // eigenvalues are the axes. SelfAdjointEigenSolver sorts eigenvalues in increasing order.
  const Eigen::RowVectorXd mean = X.colwise().mean();
  const Eigen::MatrixXd C = X.rowwise() - mean;
  Eigen::MatrixXd cov(D, D);
  cov.noalias() = C.transpose() * C;
  cov /= static_cast<double>(std::max<Index>(1, X.rows() - 1));
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
  if (eig.info() != Eigen::Success) throw std::runtime_error("PCA: the eigen decomposition did not converge");
  const Eigen::MatrixXd axes = eig.eigenvectors().rightCols(2).rowwise().reverse();
  Eigen::MatrixXd P(X.rows(), 2);
  P.noalias() = C * axes;
  const double total = std::max(eig.eigenvalues().sum(), 1e-300);
  const double e1 = eig.eigenvalues()(D - 1) / total, e2 = eig.eigenvalues()(D - 2) / total;

  std::vector<double> xs, ys;
  std::vector<std::string> labels;
  std::vector<int> groups;
  std::cout << "pc1\tpc2\tsentence\n";
  for (std::size_t i = 0; i < sentences.size(); ++i) {
    xs.push_back(P(static_cast<Index>(i), 0));
    ys.push_back(P(static_cast<Index>(i), 1));
    labels.push_back(sentences[i].first);
    groups.push_back(sentences[i].second);
    std::cout << fixed(xs.back(), 4) << "\t" << fixed(ys.back(), 4) << "\t" << sentences[i].first << "\n";
  }
  const std::string what = all ? "every layer's (h, c), " + std::to_string(D) + " numbers" : "top layer's h, " + std::to_string(D) + " numbers";
  write_text_file(svg, scatter_svg("2-D PCA of the encoder's sentence vectors (" + what + ")", xs, ys, labels, groups,
                                        "PC1 (" + fixed(100 * e1, 1) + "% of variance)", "PC2 (" + fixed(100 * e2, 1) + "% of variance)"));
  std::cerr << "wrote " << svg << " (" << sentences.size() << " sentences; PC1 " << fixed(100 * e1, 1) << "%, PC2 "
            << fixed(100 * e2, 1) << "% of the variance)\n";
  return 0;
}

}  // namespace toy
