// Helpers of the data-pipeline tests (test_utf8, test_tokenizer, test_vocab, test_corpus, test_batcher).
#ifndef SEQ2SEQ_TESTS_TEST_DATA_UTIL_HPP
#define SEQ2SEQ_TESTS_TEST_DATA_UTIL_HPP

#include <doctest/doctest.h>
#include <seq2seq/data/corpus.hpp>

#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

namespace seq2seq {
namespace test {

using Words = std::vector<std::string>;

/// True when calling `f` throws an exception of type E whose message contains `needle`.
template <typename E, typename F>
bool throws_with(F&& f, const std::string& needle) {
  try {
    f();
  } catch (const E& e) {
    const std::string what = e.what();
    if (what.find(needle) != std::string::npos && what.rfind("seq2seq: ", 0) == 0) return true;
    MESSAGE("message was: " << what);
    return false;
  }
  return false;
}

inline std::string bytes(std::initializer_list<unsigned> list) {
  std::string s;
  for (unsigned b : list) s.push_back(static_cast<char>(b));
  return s;
}

/// read_tsv on a string.
inline std::vector<Pair> read_string(const std::string& text, const std::string& name = "corpus.tsv") {
  std::istringstream in(text);
  return read_tsv(in, name);
}

}  // namespace test
}  // namespace seq2seq

#endif  // SEQ2SEQ_TESTS_TEST_DATA_UTIL_HPP
