#!/bin/sh
# Doxygen filter for the headers (FILTER_PATTERNS in docs/Doxyfile): prints the file with the token
# names <s>, </s>, <EOS>, <pad> and <unk> escaped as \<s\> ... in comment lines, so that doxygen
# shows them instead of reading HTML tags. `Code` spans and "quoted" text are left alone (doxygen
# reads no tags there). Code lines are unchanged and the file itself is not modified. (perl is part
# of every Debian system: perl-base is essential.)
exec perl -pe '
  if (m{^\s*(//|/\*|\*)}) {
    my @parts = split /(`[^`]*`|"[^"]*")/;
    for (@parts) { s{<(/?s|EOS|pad|unk)>}{\\<$1\\>}g unless /^[`"]/ }
    $_ = join "", @parts;
  }' "$1"
