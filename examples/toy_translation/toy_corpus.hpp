// toy_translation: the built-in corpus, English -> "Zuvi", a made-up head-final language.
//
// The pair is generated deterministically from a seed. Translating it needs what real translation
// needs and a copy or a reversal does not: long-distance REORDERING (SVO -> SOV; prepositions ->
// postpositions; determiners, numbers and adjectives after the noun, adjectives mirrored) and
// LENGTH CHANGES (case particles, a plural word, tense and negation particles are added; English
// articles and auxiliaries disappear; numbers 6..12 become two words).
//
// English grammar (every choice is drawn at random; sentences of 3..12 words are kept):
//   S        -> NP[subj] VP
//   VP       -> Verb(tense, negation, agreement) NP[obj] [PP]        (transitive, 80%)
//             | Verb(tense, negation, agreement) [PP]                (intransitive, 20%)
//   PP       -> Prep NP[place]
//   NP       -> Det_sg [Adj [Adj]] Noun                               (singular)
//             | [Det_pl] [Number] [Adj [Adj]] Nouns                   (plural)
//   Det_sg   -> the | a/an | this | that | my | your                  ("an" before a vowel)
//   Det_pl   -> the | these | those | my | your
//   Number   -> two | three | ... | twelve
//   Verb     -> present: sees / see (agrees with the subject), does not see / do not see
//               past: saw, did not see;  future: will see, will not see
//
// Zuvi grammar (S O V, head-final, every noun phrase closed by its determiner):
//   S        -> NP' ga NP' o [PP'] Verb' [ta | ru] [na]               (intransitive: no "NP' o")
//   NP'      -> Noun' [ri] [Adj'2] [Adj'1] [Number'] [Det']             ("ri" marks the plural)
//   PP'      -> NP' Post'
//   Det'     : the -> le, a/an -> (nothing), this/these -> ko, that/those -> sa, my -> nima,
//              your -> tuma
//   Number'  : 2..5 -> du tri kwa pen; 6..9 -> pen un / pen du / pen tri / pen kwa;
//              10 -> deka; 11 -> deka un; 12 -> deka du
//   tense    : present -> (nothing), past -> ta, future -> ru; negation -> na after the tense
//   Prep     : in -> ni, on -> ue, near -> soba, under -> sita, behind -> usiro, with -> to
//   Verb', Noun', Adj': one Zuvi word per English lemma (word lists below).
// Example:  "my two big dogs did not see the old cat near this house"
//        -> "kano ri dora du nima ga miso oba le o hauso ko soba wemi ta na"
//
// The mapping is a function of the English sentence (no ambiguity), so every source has exactly
// one reference, and exact match is a meaningful measure next to BLEU.
#ifndef TOY_TRANSLATION_TOY_CORPUS_HPP
#define TOY_TRANSLATION_TOY_CORPUS_HPP

#include <seq2seq/data/corpus.hpp>
#include <seq2seq/rng.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

namespace toy {

struct NounEntry {
  const char *singular, *plural, *zuvi;
};
struct VerbEntry {
  const char *third_person, *base, *past, *zuvi;
};
struct WordEntry {
  const char *english, *zuvi;
};

// Animate nouns: subjects and objects.
inline const std::vector<NounEntry>& animate_nouns() {
  static const std::vector<NounEntry> v = {
      {"dog", "dogs", "kano"},          {"cat", "cats", "miso"},          {"bird", "birds", "piyu"},
      {"horse", "horses", "umari"},     {"mouse", "mice", "nezu"},        {"child", "children", "kodo"},
      {"man", "men", "oto"},            {"woman", "women", "ona"},        {"teacher", "teachers", "sensa"},
      {"farmer", "farmers", "noka"},    {"king", "kings", "oru"},         {"queen", "queens", "jora"},
      {"doctor", "doctors", "ishi"},    {"student", "students", "gaku"},  {"baker", "bakers", "pano"},
      {"wolf", "wolves", "ooka"},       {"fox", "foxes", "kitsu"},        {"bear", "bears", "kuma"},
      {"rabbit", "rabbits", "usa"},     {"frog", "frogs", "kaeru"},       {"monkey", "monkeys", "saru"},
      {"lion", "lions", "shishi"},      {"owl", "owls", "fukuro"},        {"elephant", "elephants", "zoki"},
  };
  return v;
}

// Things and places: objects and the nouns of prepositional phrases.
inline const std::vector<NounEntry>& thing_nouns() {
  static const std::vector<NounEntry> v = {
      {"house", "houses", "hauso"},  {"garden", "gardens", "niwa"}, {"river", "rivers", "kawa"},
      {"tree", "trees", "kiru"},     {"table", "tables", "tabu"},   {"box", "boxes", "hako"},
      {"car", "cars", "kuru"},       {"bridge", "bridges", "hashi"}, {"school", "schools", "gako"},
      {"boat", "boats", "fune"},     {"hill", "hills", "oka"},      {"apple", "apples", "ringo"},
      {"book", "books", "hon"},      {"ball", "balls", "tama"},     {"chair", "chairs", "isu"},
      {"window", "windows", "mado"},
  };
  return v;
}

inline const std::vector<WordEntry>& adjectives() {
  static const std::vector<WordEntry> v = {
      {"big", "dora"},   {"small", "pita"},  {"red", "aka"},      {"green", "midi"},    {"old", "oba"},
      {"young", "waka"}, {"happy", "ureshi"}, {"sad", "kana"},    {"fast", "haya"},     {"slow", "oso"},
      {"tall", "taka"},  {"short", "miji"},  {"black", "kuro"},   {"white", "shiro"},   {"brown", "chaya"},
      {"yellow", "ki"},  {"blue", "ao"},     {"hungry", "hara"},  {"sleepy", "nemu"},   {"angry", "ikari"},
      {"quiet", "shizu"}, {"loud", "urusa"}, {"clever", "kashi"}, {"lazy", "dara"},
  };
  return v;
}

inline const std::vector<VerbEntry>& transitive_verbs() {
  static const std::vector<VerbEntry> v = {
      {"sees", "see", "saw", "wemi"},           {"likes", "like", "liked", "suki"},
      {"eats", "eat", "ate", "tabe"},           {"chases", "chase", "chased", "owa"},
      {"finds", "find", "found", "mitsu"},      {"takes", "take", "took", "tora"},
      {"helps", "help", "helped", "tasu"},      {"watches", "watch", "watched", "nagame"},
      {"follows", "follow", "followed", "tsuki"}, {"carries", "carry", "carried", "hakobu"},
      {"wants", "want", "wanted", "hoshi"},     {"hears", "hear", "heard", "kiku"},
      {"knows", "know", "knew", "shiru"},       {"loves", "love", "loved", "ai"},
      {"bites", "bite", "bit", "kamu"},         {"pushes", "push", "pushed", "osu"},
      {"calls", "call", "called", "yobu"},      {"visits", "visit", "visited", "tazu"},
      {"catches", "catch", "caught", "tsuka"},  {"meets", "meet", "met", "au"},
  };
  return v;
}

inline const std::vector<VerbEntry>& intransitive_verbs() {
  static const std::vector<VerbEntry> v = {
      {"sleeps", "sleep", "slept", "nemi"}, {"runs", "run", "ran", "hashu"},   {"sings", "sing", "sang", "utau"},
      {"waits", "wait", "waited", "matsu"}, {"plays", "play", "played", "aso"}, {"swims", "swim", "swam", "oyo"},
  };
  return v;
}

inline const std::vector<WordEntry>& prepositions() {
  static const std::vector<WordEntry> v = {{"in", "ni"},     {"on", "ue"},        {"near", "soba"},
                                           {"under", "sita"}, {"behind", "usiro"}, {"with", "to"}};
  return v;
}

// English number words 2..12 and their Zuvi spelling (base five up to nine, then base ten).
inline const std::vector<WordEntry>& numbers() {
  static const std::vector<WordEntry> v = {
      {"two", "du"},         {"three", "tri"},        {"four", "kwa"},         {"five", "pen"},
      {"six", "pen un"},     {"seven", "pen du"},     {"eight", "pen tri"},    {"nine", "pen kwa"},
      {"ten", "deka"},       {"eleven", "deka un"},   {"twelve", "deka du"},
  };
  return v;
}

// Determiners: English singular / plural spelling and the Zuvi word ("" = no word).
inline const std::vector<WordEntry>& singular_determiners() {
  static const std::vector<WordEntry> v = {{"the", "le"}, {"a", ""},     {"this", "ko"},
                                           {"that", "sa"}, {"my", "nima"}, {"your", "tuma"}};
  return v;
}
inline const std::vector<WordEntry>& plural_determiners() {
  static const std::vector<WordEntry> v = {{"the", "le"}, {"these", "ko"}, {"those", "sa"}, {"my", "nima"},
                                           {"your", "tuma"}};
  return v;
}

/// Appends the space-separated words of `text` (may be empty) to `out`.
inline void append_words(std::vector<std::string>& out, const std::string& text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) out.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
}

inline std::string join(const std::vector<std::string>& words) {
  std::string s;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i) s += ' ';
    s += words[i];
  }
  return s;
}

/// Draws sentence pairs of the grammar above.
class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  /// One pair with an English side of 3..12 words.
  seq2seq::Pair pair() {
    for (;;) {
      std::vector<std::string> en, zv;
      sentence(en, zv);
      if (en.size() >= 3 && en.size() <= 12) return {join(en), join(zv)};
    }
  }

 private:
  struct NP {
    std::vector<std::string> en, zv;
    bool plural = false;
  };

  bool chance(double p) { return rng_.uniform(0.0, 1.0) < p; }
  std::size_t pick(std::size_t n) { return static_cast<std::size_t>(rng_.below(n)); }

  NP noun_phrase(const std::vector<NounEntry>& nouns) {
    NP np;
    const NounEntry& noun = nouns[pick(nouns.size())];
    np.plural = chance(0.35);
    // 0, 1 or 2 distinct adjectives.
    std::vector<std::size_t> adj;
    const double r = rng_.uniform(0.0, 1.0);
    const std::size_t n_adj = r < 0.5 ? 0 : r < 0.85 ? 1 : 2;
    while (adj.size() < n_adj) {
      const std::size_t a = pick(adjectives().size());
      if (adj.empty() || adj.front() != a) adj.push_back(a);
    }
    const WordEntry* det = nullptr;
    const WordEntry* num = nullptr;
    if (np.plural) {
      if (chance(0.7)) det = &plural_determiners()[pick(plural_determiners().size())];
      if (chance(0.5)) num = &numbers()[pick(numbers().size())];
      if (!det && !num && chance(0.5)) num = &numbers()[pick(numbers().size())];
    } else {
      det = &singular_determiners()[pick(singular_determiners().size())];
    }
    // English: Det Number Adj1 Adj2 Noun.
    if (det) {
      std::string d = det->english;
      if (d == "a") {
        const char first = num ? num->english[0] : !adj.empty() ? adjectives()[adj.front()].english[0] : noun.singular[0];
        if (first == 'a' || first == 'e' || first == 'i' || first == 'o' || first == 'u') d = "an";
      }
      np.en.push_back(d);
    }
    if (num) np.en.emplace_back(num->english);
    for (std::size_t a : adj) np.en.emplace_back(adjectives()[a].english);
    np.en.emplace_back(np.plural ? noun.plural : noun.singular);
    // Zuvi: Noun [ri] Adj2 Adj1 Number Det.
    np.zv.emplace_back(noun.zuvi);
    if (np.plural) np.zv.emplace_back("ri");
    for (std::size_t k = adj.size(); k-- > 0;) np.zv.emplace_back(adjectives()[adj[k]].zuvi);
    if (num) append_words(np.zv, num->zuvi);
    if (det) append_words(np.zv, det->zuvi);
    return np;
  }

  void sentence(std::vector<std::string>& en, std::vector<std::string>& zv) {
    NP subject = noun_phrase(animate_nouns());
    const bool transitive = chance(0.8);
    const VerbEntry& verb = transitive ? transitive_verbs()[pick(transitive_verbs().size())]
                                       : intransitive_verbs()[pick(intransitive_verbs().size())];
    const double t = rng_.uniform(0.0, 1.0);
    const int tense = t < 0.4 ? 0 : t < 0.75 ? 1 : 2;  // present, past, future
    const bool negated = chance(0.2);
    NP object;
    if (transitive) object = noun_phrase(chance(0.5) ? animate_nouns() : thing_nouns());
    const bool has_pp = chance(0.35);
    NP place;
    const WordEntry* prep = nullptr;
    if (has_pp) {
      prep = &prepositions()[pick(prepositions().size())];
      place = noun_phrase(thing_nouns());
    }

    // English: subject, verb group, object, prepositional phrase.
    en = subject.en;
    if (tense == 0 && !negated) en.emplace_back(subject.plural ? verb.base : verb.third_person);
    if (tense == 0 && negated) {
      en.emplace_back(subject.plural ? "do" : "does");
      en.emplace_back("not");
      en.emplace_back(verb.base);
    }
    if (tense == 1 && !negated) en.emplace_back(verb.past);
    if (tense == 1 && negated) {
      en.emplace_back("did");
      en.emplace_back("not");
      en.emplace_back(verb.base);
    }
    if (tense == 2) {
      en.emplace_back("will");
      if (negated) en.emplace_back("not");
      en.emplace_back(verb.base);
    }
    en.insert(en.end(), object.en.begin(), object.en.end());
    if (prep) {
      en.emplace_back(prep->english);
      en.insert(en.end(), place.en.begin(), place.en.end());
    }

    // Zuvi: subject ga, object o, place postposition, verb, tense, negation.
    zv = subject.zv;
    zv.emplace_back("ga");
    if (transitive) {
      zv.insert(zv.end(), object.zv.begin(), object.zv.end());
      zv.emplace_back("o");
    }
    if (prep) {
      zv.insert(zv.end(), place.zv.begin(), place.zv.end());
      zv.emplace_back(prep->zuvi);
    }
    zv.emplace_back(verb.zuvi);
    if (tense == 1) zv.emplace_back("ta");
    if (tense == 2) zv.emplace_back("ru");
    if (negated) zv.emplace_back("na");
  }

  seq2seq::Rng rng_;
};

/// `count` pairs with distinct English sides, in generation order. Deterministic in (count, seed).
inline std::vector<seq2seq::Pair> generate(std::size_t count, std::uint64_t seed) {
  if (count == 0) throw std::invalid_argument("the built-in corpus needs at least one pair");
  Generator gen(seed);
  std::unordered_set<std::string> seen;
  std::vector<seq2seq::Pair> pairs;
  pairs.reserve(count);
  std::size_t attempts = 0;
  while (pairs.size() < count) {
    if (++attempts > 100 * count + 1000) throw std::runtime_error("the built-in grammar cannot produce that many distinct pairs");
    seq2seq::Pair p = gen.pair();
    if (seen.insert(p.source).second) pairs.push_back(std::move(p));
  }
  return pairs;
}

}  // namespace toy

#endif  // TOY_TRANSLATION_TOY_CORPUS_HPP
