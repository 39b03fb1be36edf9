// Tests of detail/base64.hpp (binary models inside JSON metadata).
#include <seq2seq/detail/base64.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

using seq2seq::detail::base64_decode;
using seq2seq::detail::base64_encode;

TEST_CASE("base64: RFC 4648 test vectors and every byte round trip") {
  const char* vectors[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& v : vectors) {
    CHECK(base64_encode(v[0]) == v[1]);
    CHECK(base64_decode(v[1]) == v[0]);
  }
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  for (std::size_t n = 0; n <= all.size(); n += 37) CHECK(base64_decode(base64_encode(all.substr(0, n))) == all.substr(0, n));
}

TEST_CASE("base64: anything but the one canonical spelling is refused") {
  for (const char* bad : {"Zg=", "Zg", "Z===", "Zm9v!A==", "Zm=v", "Zh==", "Zm9=", "Zm 9v", "====", "Zg==Zg=="}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(base64_decode(bad), doctest::Contains("seq2seq: base64"), std::invalid_argument);
  }
}
