// Compiled with SEQ2SEQ_WITH_ICU=1 (seq2seq::icu): registers ICU's NFC for the whole program.
#include <seq2seq/data/normalize.hpp>

#include <iostream>
#include <string>

std::string nfc_in_the_other_file(const std::string& text);
bool has_nfc_in_the_other_file();

int main() {
  const std::string decomposed = "Vous ai-je bless\x65\xCC\x81 ?";  // e + U+0301
  const std::string composed = "Vous ai-je bless\xC3\xA9 ?";
  const bool ok = seq2seq::has_nfc() && has_nfc_in_the_other_file() && seq2seq::to_nfc(decomposed) == composed &&
                  nfc_in_the_other_file(decomposed) == composed;
  std::cout << (ok ? "NFC in both translation units\n" : "FAILED: the two translation units disagree\n");
  return ok ? 0 : 1;
}
