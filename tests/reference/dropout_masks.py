#!/usr/bin/env python3
"""Golden dropout masks: the counter-based rule of include/seq2seq/dropout.hpp (rules K1-K4 of its
comment) written again in plain Python, so the C++ code is checked against the documented rule, and
a change to the rule (which would change the masks of every resumed run) fails a test.

Prints the masks that the golden test of tests/test_dropout.cpp holds:
    python3 tests/reference/dropout_masks.py
"""
import math
from fractions import Fraction

M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def mix(x):
    """splitmix64's output for the state x."""
    z = (x + GAMMA) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def keep(rate, seed, step, site, layer, t, n, i):
    key = mix(mix(mix(mix(seed) ^ step) ^ site) ^ layer)  # (K1)
    col = mix(mix(key ^ t) ^ n)  # (K2)
    u = mix((col + i * GAMMA) & M64) >> 11  # (K3)
    return u >= math.ceil(Fraction(rate) * 2**53)  # (K4), exact


# (rate, seed, step, first_sequence, site (1 encoder, 2 decoder), layer); each mask is 5 rows x
# (T = 3) * (B = 2) columns, printed as one string per column t*B + b, row i as its i-th character.
CASES = [(0.5, 2014, 7, 3, 1, 1), (0.25, 1, 0, 0, 2, 0), (0.75, 2**64 - 1, 123456789, 10, 2, 2)]
ROWS, T, B = 5, 3, 2

if __name__ == "__main__":
    for rate, seed, step, first, site, layer in CASES:
        cols = []
        for t in range(T):
            for b in range(B):
                cols.append("".join("1" if keep(rate, seed, step, site, layer, t, first + b, i) else "0"
                                    for i in range(ROWS)))
        print("{%r, %du, %du, %d, %d, %d, {%s}}," % (rate, seed, step, first, site, layer,
                                                   ", ".join('"%s"' % c for c in cols)))
