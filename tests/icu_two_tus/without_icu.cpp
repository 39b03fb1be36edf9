// Compiled as a file of a program that does not ask for ICU: it must still see the program's NFC.
#undef SEQ2SEQ_WITH_ICU
#include <seq2seq/data/normalize.hpp>

#include <string>

std::string nfc_in_the_other_file(const std::string& text) {
  return seq2seq::normalize(text, seq2seq::NormalizeOptions{true, true});
}
bool has_nfc_in_the_other_file() { return seq2seq::has_nfc(); }
