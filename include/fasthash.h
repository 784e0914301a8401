/* SPDX-License-Identifier: MIT */
/*
 * fasthash.h - the hash of the findings tables' keys.
 *
 * The keys are small fixed-layout structs whose length is a multiple of 4:
 * mix them as 64-bit words (multiply-xorshift, splitmix64's constants). The
 * flow table has its own, cheaper hash for its 40-byte key
 * (flow_key_hash()).
 */
#ifndef TCPTRIAGE_FASTHASH_H
#define TCPTRIAGE_FASTHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The hash of the len bytes at key, mixed into the state h. */
static inline uint32_t fasthash_mix(uint64_t h, const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t w;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, sizeof w);
        h ^= w;
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    if (i < len) {
        w = 0;
        memcpy(&w, p + i, len - i);
        h ^= w;
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    h *= 0x94d049bb133111ebull;
    h ^= h >> 29;
    return (uint32_t)h;
}

static inline uint32_t fasthash(const void *key, size_t len)
{
    return fasthash_mix(0x9e3779b97f4a7c15ull ^ len, key, len);
}

/* The hash of a key whose first part was already hashed (h0, by fasthash())
 * and whose rest is the len bytes at key: as good as hashing the whole, for
 * the cost of the rest only. */
static inline uint32_t fasthash_more(uint32_t h0, const void *key, size_t len)
{
    return fasthash_mix(0x9e3779b97f4a7c15ull ^ ((uint64_t)h0 << 32 | len), key, len);
}

#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = fasthash((keyptr), (size_t)(keylen)))

#endif
