#!/usr/bin/env python3
# Independent reference for tests/unit/core/test_random.cpp: MT19937-64 written from its
# published definition (checked against the C++ standard: the 10000th output of the default seed
# 5489 is 9981545732273789042), with the Fisher-Yates and rejection sampling of
# include/tomograd/core/random.hpp. Run: python3 tests/unit/core/random_reference.py

M64 = (1 << 64) - 1
class MT64:
    def __init__(self, seed):
        self.mt = [0] * 312
        self.mt[0] = seed & M64
        for i in range(1, 312):
            self.mt[i] = (6364136223846793005 * (self.mt[i-1] ^ (self.mt[i-1] >> 62)) + i) & M64
        self.i = 312
    def __call__(self):
        if self.i >= 312:
            UM, LM = 0xFFFFFFFF80000000, 0x7FFFFFFF
            A = 0xB5026F5AA96619E9
            for k in range(312):
                x = (self.mt[k] & UM) | (self.mt[(k+1) % 312] & LM)
                xa = x >> 1
                if x & 1: xa ^= A
                self.mt[k] = self.mt[(k+156) % 312] ^ xa
            self.i = 0
        x = self.mt[self.i]; self.i += 1
        x ^= (x >> 29) & 0x5555555555555555
        x ^= (x << 17) & 0x71D67FFFEDA60000
        x ^= (x << 37) & 0xFFF7EEE000000000
        x ^= x >> 43
        return x & M64
g = MT64(5489)
for _ in range(9999): g()
print("10000th", g())
def below(g, n):
    rej = (2**64 - n) % n
    while True:
        r = g()
        if r >= rej: return r % n
g = MT64(42)
print("first", g())
g = MT64(42)
v = list(range(10))
for i in range(10, 1, -1):
    j = below(g, i); v[i-1], v[j] = v[j], v[i-1]
print("shuffle", v)
g = MT64(7)
print("below", [below(g, 6) for _ in range(5)])
