#!/usr/bin/env bash
# pkg-config consumer: compile the downstream program exactly as a Makefile user would, with the
# flags of the installed seq2seq.pc, then run it.
#
#   pkg_config.sh <prefix> <c++ compiler> <consumer.cpp> <build dir> <expected version>
set -euo pipefail
prefix="$1" cxx="$2" source="$3" build="$4" version="$5"

export PKG_CONFIG_PATH="$prefix/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
found="$(pkg-config --modversion seq2seq)"
if [[ "$found" != "$version" ]]; then
  echo "pkg-config --modversion seq2seq says '$found', expected '$version'" >&2
  exit 1
fi
cflags="$(pkg-config --cflags seq2seq)"
echo "pkg-config --cflags seq2seq: $cflags"
# The include directory that holds seq2seq/ must be the prefix's (a relocatable .pc may spell it
# as ${pcfiledir}/../../include, so paths are compared after resolving them).
want="$(realpath "$prefix/include")"
ok=0
for flag in $cflags; do
  if [[ "$flag" == -I* && -d "${flag#-I}" && "$(realpath "${flag#-I}")" == "$want" ]]; then ok=1; fi
done
if [[ $ok != 1 ]]; then
  echo "no -I flag points to $prefix/include: seq2seq.pc does not describe the prefix it is installed in" >&2
  exit 1
fi

rm -rf "$build"
mkdir -p "$build"
# seq2seq.pc carries include paths only: the C++17 flag is the user's (GCC 12 defaults to C++17,
# Clang 14 does not).
set -x
# shellcheck disable=SC2086  # the flags are a word list
"$cxx" -std=c++17 -O0 $cflags -DSEQ2SEQ_CONSUMER_KIND='"pkg-config"' -DSEQ2SEQ_EXPECTED_VERSION="\"$version\"" \
  "$source" -o "$build/consumer"
"$build/consumer"
