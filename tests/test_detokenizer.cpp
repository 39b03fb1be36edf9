// Tests of data/detokenizer.hpp: English and French spacing rules, numbers, quotes, learning the
// spacing from raw text, and the JSON form.
#include <seq2seq/data/detokenizer.hpp>
#include <seq2seq/data/tokenizer.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

using namespace seq2seq;

/// tokenize, then detokenize with `d`: what translate prints for a model output.
std::string through(const Detokenizer& d, const std::string& text) { return d.detokenize(tokenize(text)); }

}  // namespace

TEST_CASE("detokenizer: English sentences") {
  const Detokenizer en = Detokenizer::english();
  CHECK(through(en, "I don't know.") == "i don't know.");
  CHECK(through(en, "Tom's dog, the well-known one, barked!") == "tom's dog, the well-known one, barked!");
  CHECK(through(en, "Is it 3.5 or 10,000?") == "is it 3.5 or 10,000?");
  CHECK(through(en, "We met at 10:30 (not 11).") == "we met at 10:30 (not 11).");
  CHECK(through(en, "He said \"hello\" and left...") == "he said \"hello\" and left...");
  CHECK(through(en, "Wait... what?!") == "wait... what?!");
  CHECK(through(en, "It's 50% off; buy now: today") == "it's 50% off; buy now: today");
  CHECK(en.detokenize({}) == "");
  CHECK(en.detokenize({"."}) == ".");
}

TEST_CASE("detokenizer: French sentences") {
  const Detokenizer fr = Detokenizer::french();
  CHECK(through(fr, "J'ai besoin d'aide.") == "j'ai besoin d'aide.");
  CHECK(through(fr, "Vous ai-je blessé ?") == "vous ai-je blessé ?");
  CHECK(through(fr, "Êtes-vous sincère ?") == "êtes-vous sincère ?");
  CHECK(through(fr, "Il a dit : « Oui ! »") == "il a dit : « oui ! »");
  CHECK(through(fr, "Aujourd'hui, c'est 3,5 degrés ; demain ?") == "aujourd'hui, c'est 3,5 degrés ; demain ?");
  CHECK(through(fr, "Qu'est-ce que c'est ?!") == "qu'est-ce que c'est ?!");
  // The tokenized form is one space everywhere.
  CHECK(Detokenizer::spaces().detokenize(tokenize("J'ai faim.")) == "j ' ai faim .");
}

TEST_CASE("detokenizer: re-tokenizing the output gives the tokens back") {
  for (const Detokenizer& d : {Detokenizer::english(), Detokenizer::french(), Detokenizer::spaces()}) {
    for (const char* text : {"J'ai besoin d'aide.", "Vous ai-je blessé ?", "« Oui », dit-il : 3.5 %",
                             "He said \"no\" -- twice (or 3 times)...", "¿Qué tal? ¡Bien!", "a - b / c ' d"}) {
      CAPTURE(text);
      const std::vector<std::string> tokens = tokenize(text);
      CHECK(tokenize(d.detokenize(tokens)) == tokens);
    }
  }
}

TEST_CASE("detokenizer: learned from raw text it follows the corpus' typography") {
  // A corpus that puts a narrow no-break space before ? and !, and a space after « and before ».
  const std::string nnbsp = "\xE2\x80\xAF";
  const std::vector<std::string> corpus = {
      "Tu viens" + nnbsp + "?", "Oui" + nnbsp + "!", "Vraiment" + nnbsp + "?", "« Bon » , dit-il.", "C'est « ça ».",
      "« Oui » !",              "Où es-tu" + nnbsp + "?", "Va-t'en" + nnbsp + "!", "Non" + nnbsp + "!"};
  const Detokenizer learned = Detokenizer::learn(corpus, Detokenizer::english());
  CHECK(learned.rule("?").before == nnbsp);
  CHECK(learned.rule("!").before == nnbsp);
  CHECK(learned.rule("-").before == "");
  CHECK(learned.rule("-").after == "");
  CHECK(learned.rule("\xC2\xAB").after == " ");
  CHECK(learned.rule("\xC2\xBB").before == " ");
  CHECK(learned.detokenize(tokenize("Tu viens ?")) == "tu viens" + nnbsp + "?");
  CHECK(learned.detokenize(tokenize("Va-t'en !")) == "va-t'en" + nnbsp + "!");
  // Seen fewer than min_count times: the default stays (. after a word: 2 times here).
  const Detokenizer strict = Detokenizer::learn(corpus, Detokenizer::english(), {}, {}, 100);
  CHECK(strict == Detokenizer::english());
  // Typographic apostrophes are read as ' first (the default normalisation).
  const Detokenizer apostrophes = Detokenizer::learn({"J\xE2\x80\x99" "ai", "l\xE2\x80\x99" "eau", "c\xE2\x80\x99" "est"},
                                                    Detokenizer::spaces());
  CHECK(apostrophes.rule("'") == Spacing{"", ""});
}

TEST_CASE("detokenizer: JSON round trip and bad JSON") {
  Detokenizer d = Detokenizer::french();
  d.set_rule("?", Spacing{"\xE2\x80\xAF", " "});
  const nlohmann::json j = d.to_json();
  CHECK(Detokenizer::from_json(j) == d);
  CHECK(Detokenizer::from_json(nlohmann::json::parse(j.dump())) == d);
  CHECK_THROWS_AS(d.set_rule("x", Spacing{"x", ""}), std::invalid_argument);
  const auto refused = [](const std::string& text, const char* what) {
    CAPTURE(text);
    CHECK_THROWS_WITH_AS(Detokenizer::from_json(nlohmann::json::parse(text)), doctest::Contains(what), std::invalid_argument);
  };
  refused("[]", "expected an object");
  refused(R"({"format":"other","version":1,"rules":{}})", "\"format\"");
  refused(R"({"format":"seq2seq.detokenizer","version":9,"rules":{}})", "newer");
  refused(R"({"format":"seq2seq.detokenizer","version":1})", "\"rules\"");
  refused(R"({"format":"seq2seq.detokenizer","version":1,"rules":{"?":[" "]}})", "[before, after]");
  refused(R"({"format":"seq2seq.detokenizer","version":1,"rules":{"?":["x"," "]}})", "non-whitespace");
  refused(R"({"format":"seq2seq.detokenizer","version":1,"numbers":1,"rules":{}})", "\"numbers\"");
}
