/* SPDX-License-Identifier: MIT */
/*
 * findings.c - roll finished connections up per service and per client ->
 * service pair, then name the production traps they show (docs/findings.md).
 *
 * Input: each finished connection with its verdict (findings_add), as the
 * tracker recorded it; never packets. Memory: one record per service and per
 * pair, in tables capped by cfg.max_services / cfg.max_pairs (what does not
 * fit is counted); per-pair port bitmaps only for pairs busy enough to
 * matter. Output order is deterministic: by kind (severity), then by the
 * number of connections, then by subject.
 *
 * Cost: findings_add() runs once per finished connection, millions of times
 * in a large capture or a SYN flood, and most new client -> service pairs
 * are misses (in a flood, every source is new and the pair table is full).
 * So the tables are an array of records in insertion order plus a compact
 * open-addressing index of (hash, position) slots: a miss usually reads one
 * cache line of the index and no record at all.
 */
#include "fasthash.h"
#include "findings.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================== */
/* Names and configuration                                                   */

static const char *const kind_names[FINDING__COUNT] = {
    [FINDING_SYN_FLOOD] = "syn_flood",
    [FINDING_BACKLOG_OVERFLOW] = "backlog_overflow",
    [FINDING_IDLE_TIMEOUT] = "idle_timeout",
    [FINDING_CLOSE_WAIT_LEAK] = "close_wait_leak",
    [FINDING_PORT_CHURN] = "port_churn",
    [FINDING_KEEPALIVE] = "keepalive",
    [FINDING_RETRANSMISSIONS] = "retransmissions",
    [FINDING_SLOW_HANDSHAKE] = "slow_handshake",
    [FINDING_NAGLE_DELAYED_ACK] = "nagle_delayed_ack",
};

const char *finding_kind_name(enum finding_kind k)
{
    if ((unsigned)k >= FINDING__COUNT)
        return "unknown";
    return kind_names[k];
}

bool finding_kind_from_name(const char *name, enum finding_kind *out)
{
    unsigned i;
    if (!name_lookup(kind_names, FINDING__COUNT, name, &i))
        return false;
    *out = (enum finding_kind)i;
    return true;
}

const char *confidence_name(enum confidence c)
{
    switch (c) {
    case CONFIDENCE_LOW:
        return "low";
    case CONFIDENCE_MEDIUM:
        return "medium";
    case CONFIDENCE_HIGH:
        return "high";
    }
    return "unknown";
}

void findings_config_default(struct findings_config *cfg)
{
    cfg->flood_min_half_open = 20;
    cfg->flood_min_sources = 10;
    cfg->backlog_min_signals = 2;
    cfg->churn_min_connections = 200;
    cfg->churn_min_rate = 10.0;
    cfg->ephemeral_ports = 28232; /* Linux default 32768-60999 */
    cfg->time_wait_s = 60.0;
    cfg->close_wait_min = 1;
    cfg->idle_min_s = 2.0;
    cfg->idle_cluster = 0.25;
    cfg->nagle_min_events = 5;
    cfg->retrans_min_rate = 0.01;
    cfg->retrans_min = 5;
    cfg->slow_handshake_s = 0.5;
    cfg->max_services = 16384;
    cfg->max_pairs = 16384;
    cfg->pair_filter = true;
}

struct threshold_def {
    const char *name;
    enum { T_U32, T_DOUBLE, T_SIZE } type;
    size_t offset;
};

static const struct threshold_def thresholds[] = {
    {"flood_min_half_open", T_U32, offsetof(struct findings_config, flood_min_half_open)},
    {"flood_min_sources", T_U32, offsetof(struct findings_config, flood_min_sources)},
    {"backlog_min_signals", T_U32, offsetof(struct findings_config, backlog_min_signals)},
    {"churn_min_connections", T_U32, offsetof(struct findings_config, churn_min_connections)},
    {"churn_min_rate", T_DOUBLE, offsetof(struct findings_config, churn_min_rate)},
    {"ephemeral_ports", T_U32, offsetof(struct findings_config, ephemeral_ports)},
    {"time_wait", T_DOUBLE, offsetof(struct findings_config, time_wait_s)},
    {"close_wait_min", T_U32, offsetof(struct findings_config, close_wait_min)},
    {"idle_min", T_DOUBLE, offsetof(struct findings_config, idle_min_s)},
    {"idle_cluster", T_DOUBLE, offsetof(struct findings_config, idle_cluster)},
    {"nagle_min_events", T_U32, offsetof(struct findings_config, nagle_min_events)},
    {"retrans_min_rate", T_DOUBLE, offsetof(struct findings_config, retrans_min_rate)},
    {"retrans_min", T_U32, offsetof(struct findings_config, retrans_min)},
    {"slow_handshake", T_DOUBLE, offsetof(struct findings_config, slow_handshake_s)},
    {"max_services", T_SIZE, offsetof(struct findings_config, max_services)},
    {"max_pairs", T_SIZE, offsetof(struct findings_config, max_pairs)},
};

bool findings_config_set(struct findings_config *cfg, const char *assignment, char *err,
                         size_t errlen)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        snprintf(err, errlen, "--threshold: '%s' is not NAME=VALUE", assignment);
        return false;
    }
    size_t nlen = (size_t)(eq - assignment);
    for (size_t i = 0; i < sizeof thresholds / sizeof thresholds[0]; i++) {
        const struct threshold_def *d = &thresholds[i];
        if (strlen(d->name) != nlen || strncmp(d->name, assignment, nlen) != 0)
            continue;
        char *end;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || *end != '\0' || !isfinite(v) || v < 0 ||
            (d->type != T_DOUBLE && (v != floor(v) || v > 4294967295.0))) {
            snprintf(err, errlen, "--threshold: bad value in '%s'", assignment);
            return false;
        }
        char *field = (char *)cfg + d->offset;
        if (d->type == T_U32) {
            uint32_t u = (uint32_t)v;
            memcpy(field, &u, sizeof u);
        } else if (d->type == T_SIZE) {
            size_t u = (size_t)v;
            memcpy(field, &u, sizeof u);
        } else {
            memcpy(field, &v, sizeof v);
        }
        return true;
    }
    snprintf(err, errlen, "--threshold: unknown name in '%s' (see docs/findings.md)", assignment);
    return false;
}

/* ======================================================================== */
/* Aggregates                                                                */

/* Up to FINDING_MAX_IDS example connections, and how many in all. */
struct evidence {
    uint64_t n;
    uint64_t ids[FINDING_MAX_IDS];
    uint64_t frames[FINDING_MAX_IDS];
};

static void evidence_add(struct evidence *e, uint64_t id, uint64_t frame)
{
    if (e->n < FINDING_MAX_IDS) {
        e->ids[e->n] = id;
        e->frames[e->n] = frame;
    }
    e->n++;
}

/* Distinct-count estimate by linear counting (Whang et al. 1990) over an
 * 8192-bit map: within about 1% up to a few thousand, 1 KiB, allocated only
 * for services that have half-open connections. */
#define LC_BITS 8192u
struct lincount {
    uint8_t bits[LC_BITS / 8];
};

#define FNV_PRIME 16777619u
/* FNV_PRIME^12 mod 2^32: FNV-1a over 12 zero bytes multiplies by this. */
#define FNV_PRIME_POW12 (FNV_PRIME * FNV_PRIME * FNV_PRIME * FNV_PRIME * FNV_PRIME * FNV_PRIME * \
                         FNV_PRIME * FNV_PRIME * FNV_PRIME * FNV_PRIME * FNV_PRIME * FNV_PRIME)

/* FNV-1a over the 16 address bytes. An IPv4 address has bytes 4..15 zero
 * (decode.h), and h ^ 0 = h, so those 12 rounds fold into one multiply:
 * the same value, 4 rounds instead of 16. */
static uint32_t hash_addr(const struct ip_addr *a)
{
    uint32_t h = 2166136261u;
    size_t i = 0;
    for (; i < 4; i++)
        h = (h ^ a->b[i]) * FNV_PRIME;
    uint32_t mid;
    uint64_t tail;
    memcpy(&mid, a->b + 4, sizeof mid);
    memcpy(&tail, a->b + 8, sizeof tail);
    if ((mid | tail) == 0)
        return h * FNV_PRIME_POW12;
    for (; i < sizeof a->b; i++)
        h = (h ^ a->b[i]) * FNV_PRIME;
    return h;
}

static void lincount_add(struct lincount *lc, const struct ip_addr *a)
{
    uint32_t h = hash_addr(a) % LC_BITS;
    lc->bits[h / 8] = (uint8_t)(lc->bits[h / 8] | (1u << (h % 8)));
}

static double lincount_estimate(const struct lincount *lc)
{
    unsigned zero = 0;
    for (unsigned i = 0; i < LC_BITS; i++)
        if (!(lc->bits[i / 8] & (1u << (i % 8))))
            zero++;
    if (zero == 0)
        zero = 1;
    return -(double)LC_BITS * log((double)zero / LC_BITS);
}

/* Handshake RTT histogram: buckets 1.25x apart from 1 us. Bucket 0 holds
 * RTTs under 1 us; bucket b >= 1 starts at 1.25^(b-1) us; the last one holds
 * everything above. */
#define RTT_BUCKETS 96

/* Where each bucket starts, in ns. These are exactly where the first
 * formula, (unsigned)(log(ns / 1000.0) / log(1.25)) + 1, changed bucket
 * (found by bisection on that formula, then checked against it for every ns
 * below 2 s, for every ns within 4 ms of each boundary, and for 10^8
 * log-uniform samples up to 2^62), so histograms are unchanged; a lookup
 * costs a few compares where log() cost ~100 instructions a connection. */
static const int64_t rtt_bucket_start_ns[] = {
    INT64_MIN,
    1000, 1250, 1563, 1954, 2442, 3052,
    3815, 4769, 5961, 7451, 9314, 11642,
    14552, 18190, 22738, 28422, 35528, 44409,
    55512, 69389, 86737, 108421, 135526, 169407,
    211759, 264698, 330873, 413591, 516988, 646235,
    807794, 1009742, 1262178, 1577722, 1972153, 2465191,
    3081488, 3851860, 4814825, 6018532, 7523164, 9403955,
    11754944, 14693680, 18367100, 22958875, 28698593, 35873241,
    44841551, 56051939, 70064924, 87581155, 109476443, 136845554,
    171056942, 213821177, 267276472, 334095589, 417619486, 522024358,
    652530447, 815663059, 1019578824, 1274473529, 1593091912, 1991364889,
    2489206112, 3111507639, 3889384549, 4861730686, 6077163358, 7596454197,
    9495567746, 11869459683, 14836824603, 18546030754, 23182538442, 28978173053,
    36222716316, 45278395395, 56597994243, 70747492804, 88434366005, 110542957506,
    138178696882, 172723371102, 215904213878, 269880267347, 337350334184, 421687917730,
    527109897162, 658887371452, 823609214315, 1029511517894, 1286889397368,
};
_Static_assert(sizeof rtt_bucket_start_ns / sizeof rtt_bucket_start_ns[0] == RTT_BUCKETS,
               "one start per RTT bucket");

/* The last bucket starting at or before ns (binary search by halving steps). */
static unsigned rtt_bucket(int64_t ns)
{
    unsigned b = 0;
    for (unsigned step = 64; step; step >>= 1)
        if (b + step < RTT_BUCKETS && rtt_bucket_start_ns[b + step] <= ns)
            b += step;
    return b;
}

static double rtt_bucket_seconds(unsigned b)
{
    return b == 0 ? 0.0000005 : pow(1.25, (double)b - 0.5) / 1e6;
}

#define IDLE_SAMPLES 32
#define CW_SAMPLES 64

struct svc_key {
    struct ip_addr addr;
    uint16_t port;
    uint8_t ip_version;
    uint8_t pad;
};

struct service {
    struct svc_key key;
    uint64_t conns;
    uint64_t verdicts[VERDICT__COUNT];
    uint64_t answered;           /* attempts the listener answered with SYN-ACK */
    /* backlog / flood */
    uint64_t half_open_cookie;   /* half-open, SYN-ACK never resent: SYN cookies */
    uint64_t half_open_retried;  /* half-open, SYN-ACK resent */
    uint64_t synack_after_ack_conns, synack_after_ack;
    uint64_t unacked_after_accept;
    uint64_t retry_success;      /* established only after SYN retries */
    struct lincount *half_open_sources; /* NULL until the first half-open connection */
    /* close-wait */
    uint64_t cw_server_open, cw_client_open;
    int64_t cw_open_ns[CW_SAMPLES]; /* how long the other side stayed open */
    size_t cw_n;
    int64_t cw_open_max_ns;
    /* idle timeout */
    int64_t idle_ns[IDLE_SAMPLES];
    uint64_t idle_ids[IDLE_SAMPLES], idle_frames[IDLE_SAMPLES];
    uint8_t idle_middlebox[IDLE_SAMPLES]; /* the RST's TTL differed */
    size_t idle_n;
    int64_t survived_idle_ns;    /* longest silence a healthy connection survived */
    uint64_t ka_conns;           /* connections with keepalive probes */
    int64_t ka_interval_max_ns, ka_interval_min_ns; /* between probes */
    /* silence before the first probe, on connections that died / survived */
    int64_t ka_dead_min_ns, ka_dead_max_ns, ka_live_min_ns, ka_live_max_ns;
    uint64_t ka_dead, ka_live;
    /* retransmissions */
    uint64_t segments, rtx, rtx_fast, rtx_spurious, rtx_conns;
    /* handshake */
    uint32_t rtt_hist[RTT_BUCKETS];
    uint64_t rtt_n;
    /* nagle */
    uint64_t nagle_events[2], nagle_conns;
    int64_t nagle_delay_ns;
    /* capture quality */
    uint64_t one_sided, midstream, gaps;
    struct evidence ev[FINDING__COUNT];
};

struct pair_key {
    struct ip_addr client;
    struct svc_key svc;
};

#define PORT_BITMAP_BYTES (65536 / 8)
#define PAIR_EARLY_PORTS 32
#define PAIR_MAX_PORT_MAPS 256 /* pairs with port bitmaps: 6 MiB at most */

struct pair {
    struct pair_key key;
    uint64_t conns;
    int64_t first_start_ns, last_start_ns;
    uint64_t client_first, server_first; /* who sent the first FIN */
    uint64_t reused, failed_recent;
    uint16_t early_ports[PAIR_EARLY_PORTS];
    uint8_t *ports_all;          /* distinct ports (allocated when busy) */
    uint8_t *ports_win[2];       /* ports used in the current / previous window */
    int64_t win_start_ns;
    struct evidence ev;
    struct evidence ev_failed;
};

/* An index over an array of records: open addressing with linear probing.
 * Each slot is (32-bit hash << 32) | (position in the array + 1), 0 when
 * empty; the table is at most half full, so a miss usually ends within the
 * first cache line of slots, and the hash in the slot spares the key
 * comparison (and the record's cache miss) for almost every other entry. */
struct rec_index {
    uint64_t *slots;
    size_t mask;  /* number of slots - 1 (a power of two); slots NULL before the first add */
    size_t n;     /* entries */
};

/* Probing for one hash: rec_index_next() gives the positions whose slot
 * carries that hash, in probe order, then SIZE_MAX at the first empty slot.
 * The caller compares the keys. */
struct rec_probe {
    const struct rec_index *ix;
    size_t i;
    uint32_t hash;
};

static struct rec_probe rec_index_probe(const struct rec_index *ix, uint32_t hash)
{
    return (struct rec_probe){.ix = ix, .i = hash & ix->mask, .hash = hash};
}

static size_t rec_index_next(struct rec_probe *p)
{
    if (!p->ix->slots)
        return SIZE_MAX;
    for (;;) {
        uint64_t v = p->ix->slots[p->i];
        if (!v)
            return SIZE_MAX;
        p->i = (p->i + 1) & p->ix->mask;
        if ((uint32_t)(v >> 32) == p->hash)
            return (size_t)(uint32_t)v - 1;
    }
}

/* Adds position pos under hash (not present yet). False when out of memory. */
static bool rec_index_add(struct rec_index *ix, uint32_t hash, size_t pos)
{
    if (pos >= UINT32_MAX - 1)
        return false;
    if (!ix->slots || 2 * (ix->n + 1) > ix->mask + 1) {
        /* Grow: twice the slots, every entry placed again by its hash. */
        size_t cap = ix->slots ? 2 * (ix->mask + 1) : 64;
        uint64_t *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return false;
        for (size_t i = 0; ix->slots && i <= ix->mask; i++) {
            uint64_t v = ix->slots[i];
            if (!v)
                continue;
            size_t j = (uint32_t)(v >> 32) & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = v;
        }
        free(ix->slots);
        ix->slots = slots;
        ix->mask = cap - 1;
    }
    size_t j = hash & ix->mask;
    while (ix->slots[j])
        j = (j + 1) & ix->mask;
    ix->slots[j] = (uint64_t)hash << 32 | (uint64_t)(pos + 1);
    ix->n++;
    return true;
}

struct findings {
    struct findings_config cfg;
    struct service **services; /* in order of first connection */
    struct pair **pairs;       /* in order of first connection */
    size_t n_services, n_pairs;
    size_t cap_services, cap_pairs;
    struct rec_index service_ix, pair_ix;
    /* Once the pair table is full (max_pairs), a bit per value of a hash's
     * low bits, set for every pair held (~32 bits a pair): a lookup of a
     * pair not held -- every new client of a flood, or of a busy server,
     * past the cap -- mostly ends on this bit, in L1 or L2, rather than on a
     * miss in the index. No false negatives: pairs are never removed. */
    uint64_t *pair_seen;
    uint64_t pair_seen_mask;
    bool pair_seen_off; /* without it: cfg.pair_filter off (TCPTRIAGE_NO_FASTPATH=1,
                           tests/fastpath.py), or no memory for it */
    /* The service of the last connection added, and its key's hash:
     * consecutive connections mostly go to the same one (a flood, a busy
     * server), which then costs a key comparison, not a hash and a probe. */
    struct service *svc_last;
    uint32_t svc_last_hash;
    size_t n_port_maps;
    uint64_t overflow;
    /* keepalive problems, per connection */
    struct finding *ka;
    size_t ka_n;
    uint64_t ka_more;
};

struct findings *findings_new(const struct findings_config *cfg)
{
    struct findings *fs = calloc(1, sizeof *fs);
    if (!fs)
        return NULL;
    fs->cfg = *cfg;
    fs->pair_seen_off = !cfg->pair_filter;
    return fs;
}

uint64_t findings_overflow(const struct findings *fs)
{
    return fs->overflow;
}

/* The array v (n used of *cap elements of elem bytes), with room for one
 * more: v itself, or a larger copy (*cap updated), or NULL (v unchanged). */
static void *room_for_one(void *v, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return v;
    size_t ncap = *cap ? 2 * *cap : 64;
    void *nv = realloc(v, ncap * elem);
    if (nv)
        *cap = ncap;
    return nv;
}

/* The service c went to: its key, zero-filled (the padding is hashed).
 * Written a word at a time, as fasthash() and the comparisons read it (see
 * conn_addr_words()): the address in two 8-byte stores, port, version and
 * padding in one 4-byte store. */
_Static_assert(sizeof(struct svc_key) == 20 && offsetof(struct svc_key, port) == 16 &&
                   offsetof(struct svc_key, ip_version) == 18,
               "a service key is two address words and a 4-byte tail");
static void svc_key_of(const struct conn *c, struct svc_key *k)
{
    conn_addr_words(c, SIDE_SERVER, &k->addr);
    uint8_t tail[4] = {0};
    uint16_t port = conn_port(c, SIDE_SERVER);
    memcpy(tail, &port, 2);
    tail[2] = c->key.ip_version;
    uint32_t w;
    memcpy(&w, tail, 4);
    memcpy(&k->port, &w, 4);
}

/* The service of key (whose hash is h), created if there is room. */
static struct service *service_get(struct findings *fs, const struct svc_key *key, uint32_t h)
{
    struct rec_probe pr = rec_index_probe(&fs->service_ix, h);
    for (size_t pos; (pos = rec_index_next(&pr)) != SIZE_MAX;)
        if (memcmp(&fs->services[pos]->key, key, sizeof *key) == 0)
            return fs->services[pos];
    if (fs->n_services >= fs->cfg.max_services)
        return NULL;
    struct service **nv = room_for_one(fs->services, fs->n_services, &fs->cap_services, sizeof *nv);
    if (!nv)
        return NULL;
    fs->services = nv;
    struct service *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (!rec_index_add(&fs->service_ix, h, fs->n_services)) {
        free(s);
        return NULL;
    }
    s->key = *key;
    s->ka_interval_min_ns = INT64_MAX;
    s->ka_dead_min_ns = INT64_MAX;
    s->ka_live_min_ns = INT64_MAX;
    fs->services[fs->n_services++] = s;
    return s;
}

/* The pair table is full: its filter (struct findings, pair_seen), when
 * there is memory for it. */
static void pair_seen_build(struct findings *fs)
{
    uint64_t bits = 64;
    while (bits < 32 * (uint64_t)fs->n_pairs && bits < (UINT64_C(1) << 32))
        bits *= 2;
    fs->pair_seen = calloc((size_t)(bits / 64), sizeof *fs->pair_seen);
    if (!fs->pair_seen) {
        fs->pair_seen_off = true; /* (only slower; not tried again) */
        return;
    }
    fs->pair_seen_mask = bits - 1;
    for (size_t i = 0; fs->pair_ix.slots && i <= fs->pair_ix.mask; i++) {
        uint64_t v = fs->pair_ix.slots[i];
        uint64_t b = (v >> 32) & fs->pair_seen_mask;
        if (v)
            fs->pair_seen[b / 64] |= UINT64_C(1) << (b % 64);
    }
}

/* The pair of c's client and service svc (whose key hashes to svc_hash). */
static struct pair *pair_get(struct findings *fs, const struct conn *c,
                             const struct svc_key *svc, uint32_t svc_hash)
{
    struct pair_key k; /* word by word, as svc_key_of() */
    _Static_assert(sizeof k == 36 && offsetof(struct pair_key, svc) == 16, "pair key layout");
    conn_addr_words(c, SIDE_CLIENT, &k.client);
    memcpy(k.svc.addr.b, svc->addr.b, 8);
    memcpy(k.svc.addr.b + 8, svc->addr.b + 8, 8);
    memcpy(&k.svc.port, &svc->port, 4);
    uint32_t h = fasthash_more(svc_hash, &k.client, sizeof k.client);
    if (fs->pair_seen) {
        uint64_t b = h & fs->pair_seen_mask;
        if (!(fs->pair_seen[b / 64] & (UINT64_C(1) << (b % 64))))
            return NULL; /* not held, and the table is full */
    }
    struct rec_probe pr = rec_index_probe(&fs->pair_ix, h);
    for (size_t pos; (pos = rec_index_next(&pr)) != SIZE_MAX;)
        if (memcmp(&fs->pairs[pos]->key, &k, sizeof k) == 0)
            return fs->pairs[pos];
    if (fs->n_pairs >= fs->cfg.max_pairs) {
        if (!fs->pair_seen && !fs->pair_seen_off)
            pair_seen_build(fs);
        return NULL;
    }
    struct pair **nv = room_for_one(fs->pairs, fs->n_pairs, &fs->cap_pairs, sizeof *nv);
    if (!nv)
        return NULL;
    fs->pairs = nv;
    struct pair *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (!rec_index_add(&fs->pair_ix, h, fs->n_pairs)) {
        free(p);
        return NULL;
    }
    p->key = k;
    fs->pairs[fs->n_pairs++] = p;
    return p;
}

static bool bit_test(const uint8_t *map, uint16_t port)
{
    return map && (map[port / 8] & (1u << (port % 8)));
}

static void bit_set(uint8_t *map, uint16_t port)
{
    if (map)
        map[port / 8] = (uint8_t)(map[port / 8] | (1u << (port % 8)));
}

/* ======================================================================== */
/* Adding a connection                                                       */

static bool failed_attempt(const struct verdict_info *v, const struct conn *c)
{
    return v->verdict == VERDICT_REFUSED || v->verdict == VERDICT_TIMED_OUT ||
           v->verdict == VERDICT_UNANSWERED ||
           (v->verdict == VERDICT_RESET && c->rst_phase == PHASE_HANDSHAKE);
}

static void add_pair(struct findings *fs, const struct conn *c, const struct verdict_info *v,
                     const struct svc_key *svc, uint32_t svc_hash)
{
    struct pair *p = pair_get(fs, c, svc, svc_hash);
    if (!p) {
        fs->overflow++;
        return;
    }
    uint16_t port = conn_port(c, SIDE_CLIENT);
    int64_t t = c->start_ns;
    int64_t win = (int64_t)(fs->cfg.time_wait_s * 1e9);
    if (p->conns == 0) {
        p->first_start_ns = t;
        p->win_start_ns = t;
    }
    if (t > p->last_start_ns || p->conns == 0)
        p->last_start_ns = t;
    if (p->conns < PAIR_EARLY_PORTS)
        p->early_ports[p->conns] = port;
    p->conns++;
    if (p->conns == PAIR_EARLY_PORTS && !p->ports_all && fs->n_port_maps < PAIR_MAX_PORT_MAPS &&
        (double)(t - p->first_start_ns) / 1e9 * fs->cfg.churn_min_rate <= PAIR_EARLY_PORTS) {
        /* Churning fast enough to matter: track ports exactly (3 x 8 KiB),
         * for at most PAIR_MAX_PORT_MAPS pairs. */
        fs->n_port_maps++;
        p->ports_all = calloc(1, PORT_BITMAP_BYTES);
        p->ports_win[0] = calloc(1, PORT_BITMAP_BYTES);
        p->ports_win[1] = calloc(1, PORT_BITMAP_BYTES);
        for (unsigned i = 0; i + 1 < PAIR_EARLY_PORTS; i++) {
            bit_set(p->ports_all, p->early_ports[i]);
            bit_set(p->ports_win[0], p->early_ports[i]);
        }
    }
    if (p->ports_all) {
        /* Windows of time_wait seconds: a port seen in this or the last one
         * was used less than two windows ago. */
        while (t - p->win_start_ns >= win) {
            uint8_t *old = p->ports_win[1];
            p->ports_win[1] = p->ports_win[0];
            p->ports_win[0] = old;
            if (old)
                memset(old, 0, PORT_BITMAP_BYTES);
            p->win_start_ns += win;
            if (t - p->win_start_ns >= 2 * win) {
                if (p->ports_win[1])
                    memset(p->ports_win[1], 0, PORT_BITMAP_BYTES);
                p->win_start_ns = t;
            }
        }
        bool recent = bit_test(p->ports_win[0], port) || bit_test(p->ports_win[1], port);
        if (recent && p->conns > PAIR_EARLY_PORTS) {
            p->reused++;
            if (failed_attempt(v, c)) {
                p->failed_recent++;
                evidence_add(&p->ev_failed, conn_id(c), conn_frame(c, &c->ep[SIDE_CLIENT].frame_syn));
            }
        }
        bit_set(p->ports_all, port);
        bit_set(p->ports_win[0], port);
    }
    const struct endpoint *cl = &c->ep[SIDE_CLIENT], *sv = &c->ep[SIDE_SERVER];
    uint64_t fin_c = conn_frame(c, &cl->frame_fin), fin_s = conn_frame(c, &sv->frame_fin);
    if (fin_c && (!fin_s || fin_c < fin_s))
        p->client_first++;
    else if (fin_s)
        p->server_first++;
    uint64_t syn_c = conn_frame(c, &cl->frame_syn);
    evidence_add(&p->ev, conn_id(c), syn_c ? syn_c : conn_first_frame(c));
}

static void add_idle_sample(struct service *s, const struct conn *c, int64_t idle_ns,
                            uint64_t frame, bool middlebox)
{
    if (s->idle_n < IDLE_SAMPLES) {
        s->idle_ns[s->idle_n] = idle_ns;
        s->idle_ids[s->idle_n] = conn_id(c);
        s->idle_frames[s->idle_n] = frame;
        s->idle_middlebox[s->idle_n] = middlebox;
        s->idle_n++;
    }
}

static void add_keepalive_problem(struct findings *fs, const struct conn *c,
                                  const struct verdict_info *v);

void findings_add(struct findings *fs, const struct conn *c, const struct verdict_info *v,
                  int64_t now_ns)
{
    const struct conn_rare *rare = conn_rare(c);
    const struct endpoint *cl = &c->ep[SIDE_CLIENT], *sv = &c->ep[SIDE_SERVER];
    const struct ep_rare *sv_rare = ep_rare(c, sv);
    const struct ep_rare *cl_rare = ep_rare(c, cl);
    struct svc_key svc;
    svc_key_of(c, &svc);
    struct service *s = fs->svc_last;
    uint32_t svc_hash = fs->svc_last_hash;
    if (!s || memcmp(&s->key, &svc, sizeof svc) != 0) {
        svc_hash = fasthash(&svc, sizeof svc);
        s = service_get(fs, &svc, svc_hash);
        if (s) {
            fs->svc_last = s;
            fs->svc_last_hash = svc_hash;
        }
    }
    add_pair(fs, c, v, &svc, svc_hash);
    if (!s) {
        fs->overflow++;
        return;
    }
    s->conns++;
    s->verdicts[v->verdict]++;
    if (c->flags & CONN_ONE_SIDED)
        s->one_sided++;
    if (c->handshake == HS_MISSING)
        s->midstream++;
    /* (c->rare first: what only the rare block counts is zero without one,
     * the case of most connections) */
    if (c->rare && (cl_rare->ack_gaps || sv_rare->ack_gaps))
        s->gaps++;
    bool synack = (sv->flags & EP_SYN) != 0;
    if (synack)
        s->answered++;

    /* SYN flood / backlog */
    if (v->verdict == VERDICT_HALF_OPEN) {
        if (!s->half_open_sources)
            s->half_open_sources = calloc(1, sizeof *s->half_open_sources);
        if (s->half_open_sources) {
            struct ip_addr source = conn_addr(c, SIDE_CLIENT);
            lincount_add(s->half_open_sources, &source);
        }
        if (sv->syns <= 1 && now_ns - conn_time(c, &sv->ts_syn) >= 1500000000LL)
            s->half_open_cookie++;
        else if (sv->syns > 1)
            s->half_open_retried++;
        evidence_add(&s->ev[FINDING_SYN_FLOOD], conn_id(c), conn_frame(c, &sv->frame_syn));
    }
    if (c->rare && sv_rare->synack_after_ack) {
        s->synack_after_ack_conns++;
        s->synack_after_ack += sv_rare->synack_after_ack;
        evidence_add(&s->ev[FINDING_BACKLOG_OVERFLOW], conn_id(c), conn_frame(c, &c->frame_established));
    }
    if ((c->flags & CONN_ESTABLISHED) && c->handshake != HS_MISSING &&
        v->stall.kind == STALL_UNACKED_DATA && v->stall.blamed == SIDE_SERVER &&
        v->stall.start_ns - conn_time(c, &c->established) <= 1000000000LL) {
        s->unacked_after_accept++;
        evidence_add(&s->ev[FINDING_BACKLOG_OVERFLOW], conn_id(c), v->stall.start_frame);
    }
    if (v->verdict == VERDICT_TIMED_OUT)
        evidence_add(&s->ev[FINDING_BACKLOG_OVERFLOW], conn_id(c), conn_frame(c, &cl->frame_syn));
    bool established = (c->flags & CONN_ESTABLISHED) != 0;
    if (established && (cl->flags & EP_SYN) && cl->syns > 1) {
        s->retry_success++;
        evidence_add(&s->ev[FINDING_SLOW_HANDSHAKE], conn_id(c), conn_frame(c, &c->frame_established));
    }
    int64_t est_ns = conn_time(c, &c->established), syn_last = conn_syn_last(c);
    if (c->handshake == HS_COMPLETE && est_ns >= syn_last) {
        s->rtt_hist[rtt_bucket(est_ns - syn_last)]++;
        s->rtt_n++;
    }

    /* CLOSE_WAIT */
    if (v->verdict == VERDICT_HALF_CLOSED) {
        bool client_closed = (cl->flags & EP_FIN) != 0;
        const struct endpoint *closer = client_closed ? cl : sv;
        int64_t open_ns = now_ns - conn_time(c, &closer->ts_fin);
        if (client_closed)
            s->cw_server_open++;
        else
            s->cw_client_open++;
        if (s->cw_n < CW_SAMPLES)
            s->cw_open_ns[s->cw_n++] = open_ns;
        if (open_ns > s->cw_open_max_ns)
            s->cw_open_max_ns = open_ns;
        evidence_add(&s->ev[FINDING_CLOSE_WAIT_LEAK], conn_id(c), conn_frame(c, &closer->frame_fin));
    }

    /* Idle timeouts: death right after a long silence. */
    int64_t idle_min = (int64_t)(fs->cfg.idle_min_s * 1e9);
    bool died = false;
    if ((c->flags & CONN_RST) && c->rst_phase != PHASE_HANDSHAKE && c->rst_phase != PHASE_CLOSED) {
        int64_t idle = rare->idle_before_rst_ns;
        const struct endpoint *by = &c->ep[c->rst_side];
        const struct ep_rare *by_rare = ep_rare(c, by);
        int64_t long_gap = conn_dur(c, &c->long_gap);
        if (long_gap > idle && rare->rst_ns - conn_time(c, &c->long_gap_end) <= CONN_AFTER_GAP_NS)
            idle = long_gap;
        else if (by_rare->keepalives > by_rare->keepalive_acks && by_rare->keepalive_idle_ns > idle)
            idle = by_rare->keepalive_idle_ns; /* killed by keepalive: the silence before them */
        if (idle >= idle_min) {
            add_idle_sample(s, c, idle, rare->frame_rst, by->ttl && by_rare->rst_ttl != by->ttl);
            died = true;
        }
    } else if (v->stall.kind == STALL_UNACKED_DATA && v->stall.idle_before_ns >= idle_min) {
        add_idle_sample(s, c, v->stall.idle_before_ns, v->stall.start_frame, false);
        died = true;
    }
    if (!died && (v->verdict == VERDICT_CLOSED || v->verdict == VERDICT_OPEN) &&
        conn_dur(c, &c->max_idle) > s->survived_idle_ns)
        s->survived_idle_ns = conn_dur(c, &c->max_idle);

    /* Keepalive */
    for (int i = 0; c->rare && i < 2; i++) {
        const struct endpoint *e = &c->ep[i];
        const struct ep_rare *e_rare = ep_rare(c, e);
        if (!e_rare->keepalives)
            continue;
        s->ka_conns++;
        if (e_rare->keepalive_gap_ns) {
            if (e_rare->keepalive_gap_ns > s->ka_interval_max_ns)
                s->ka_interval_max_ns = e_rare->keepalive_gap_ns;
            if (e_rare->keepalive_gap_ns < s->ka_interval_min_ns)
                s->ka_interval_min_ns = e_rare->keepalive_gap_ns;
        }
        int64_t *mn = died ? &s->ka_dead_min_ns : &s->ka_live_min_ns;
        int64_t *mx = died ? &s->ka_dead_max_ns : &s->ka_live_max_ns;
        if (died)
            s->ka_dead++;
        else
            s->ka_live++;
        if (e_rare->keepalive_idle_ns > *mx)
            *mx = e_rare->keepalive_idle_ns;
        if (e_rare->keepalive_idle_ns < *mn)
            *mn = e_rare->keepalive_idle_ns;
    }
    if (c->rare && (cl_rare->keepalives || sv_rare->keepalives))
        add_keepalive_problem(fs, c, v);

    /* Retransmissions */
    uint64_t rtx = (uint64_t)cl->retransmits + sv->retransmits;
    s->segments += (uint64_t)cl->pkts + sv->pkts;
    if (rtx) {
        s->rtx += rtx;
        s->rtx_fast += (uint64_t)cl_rare->rtx_fast + sv_rare->rtx_fast;
        s->rtx_spurious += (uint64_t)cl_rare->rtx_spurious + sv_rare->rtx_spurious;
        s->rtx_conns++;
        evidence_add(&s->ev[FINDING_RETRANSMISSIONS], conn_id(c), conn_frame(c, &c->last_frame));
    }

    /* Nagle */
    for (int i = 0; c->rare && i < 2; i++) {
        if (rare->ep[i].nagle_events >= 3) {
            s->nagle_events[i] += rare->ep[i].nagle_events;
            s->nagle_delay_ns += rare->ep[i].nagle_delay_ns;
        }
    }
    if (c->rare && (cl_rare->nagle_events >= 3 || sv_rare->nagle_events >= 3)) {
        s->nagle_conns++;
        evidence_add(&s->ev[FINDING_NAGLE_DELAYED_ACK], conn_id(c), conn_first_frame(c));
    }
}

/* ======================================================================== */
/* Building findings                                                         */

static void fmt_svc(char *buf, size_t len, const struct svc_key *k)
{
    char ip[64];
    ip_addr_format(&k->addr, k->ip_version, ip, sizeof ip);
    if (k->ip_version == 6)
        snprintf(buf, len, "[%s]:%u", ip, k->port);
    else
        snprintf(buf, len, "%s:%u", ip, k->port);
}

struct finding_list {
    struct finding *v;
    size_t n, cap;
};

/* After snprintf(buf, size, ...) returned n: a sentence that did not fit
 * ends in "..." rather than mid-word without a sign. */
static void mark_cut(char *buf, size_t size, int n)
{
    if (n >= 0 && (size_t)n >= size && size >= 4)
        memcpy(buf + size - 4, "...", 4);
}

static struct finding *new_finding(struct finding_list *l, enum finding_kind kind,
                                   const char subject[static 1])
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct finding *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return NULL;
        l->v = nv;
        l->cap = cap;
    }
    struct finding *f = &l->v[l->n++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->confidence = CONFIDENCE_HIGH;
    size_t n = strlen(subject);
    if (n >= sizeof f->subject)
        n = sizeof f->subject - 1;
    memcpy(f->subject, subject, n);
    f->subject[n] = '\0';
    return f;
}

static void set_evidence(struct finding *f, const struct evidence *e)
{
    f->connections = e->n;
    f->n_ids = e->n < FINDING_MAX_IDS ? (size_t)e->n : FINDING_MAX_IDS;
    memcpy(f->ids, e->ids, f->n_ids * sizeof f->ids[0]);
    memcpy(f->frames, e->frames, f->n_ids * sizeof f->frames[0]);
}

/* Adds a check command, with PORT replaced by the service's port. */
static void add_check(struct finding *f, const char *tmpl, uint16_t port)
{
    if (f->n_checks >= FINDING_MAX_CHECKS)
        return;
    char *out = f->checks[f->n_checks++];
    size_t used = 0, cap = sizeof f->checks[0];
    for (const char *p = tmpl; *p && used + 1 < cap;) {
        if (strncmp(p, "PORT", 4) == 0) {
            int w = snprintf(out + used, cap - used, "%u", port);
            used += w > 0 ? (size_t)w : 0;
            p += 4;
        } else {
            out[used++] = *p++;
        }
    }
    out[used < cap ? used : cap - 1] = '\0';
}

/* Capture-quality caveats lower the confidence one step and say why. */
static void quality(struct finding *f, const struct service *s)
{
    uint64_t bad = s->one_sided + s->midstream + s->gaps;
    if (!bad)
        return;
    if (f->confidence > CONFIDENCE_LOW)
        f->confidence = (enum confidence)(f->confidence - 1);
    snprintf(f->confidence_note, sizeof f->confidence_note,
             "%llu of %llu connections were seen one-sided, mid-stream or with capture drops",
             (unsigned long long)bad, (unsigned long long)s->conns);
}

static void finding_syn_flood(struct findings *fs, struct finding_list *l, struct service *s,
                              const char *subj)
{
    uint64_t ho = s->verdicts[VERDICT_HALF_OPEN];
    if (ho < fs->cfg.flood_min_half_open || !s->half_open_sources)
        return;
    double sources = lincount_estimate(s->half_open_sources);
    if (sources < fs->cfg.flood_min_sources)
        return;
    struct finding *f = new_finding(l, FINDING_SYN_FLOOD, subj);
    if (!f)
        return;
    char cookies[200] = "";
    if (s->half_open_cookie)
        snprintf(cookies, sizeof cookies,
                 "; %llu SYN-ACKs were sent once and never resent, as SYN cookies are "
                 "(the listener's SYN queue overflowed and it switched to cookies)",
                 (unsigned long long)s->half_open_cookie);
    uint64_t completed = s->conns - ho - s->verdicts[VERDICT_TIMED_OUT] -
                         s->verdicts[VERDICT_UNANSWERED] - s->verdicts[VERDICT_REFUSED];
    snprintf(f->statement, sizeof f->statement,
             "%llu half-open connections to %s from about %.0f source addresses: the listener "
             "answered every SYN but no SYN-ACK was ever acknowledged (%llu were resent on the "
             "kernel's retry schedule)%s; %llu other connections completed. Many sources and "
             "unacknowledged SYN-ACKs point to spoofed SYNs, not to a full accept queue (its "
             "clients do ACK) nor a firewall drop (no SYN-ACK at all).",
             (unsigned long long)ho, subj, sources, (unsigned long long)s->half_open_retried,
             cookies, (unsigned long long)completed);
    if (sources < (double)ho / 4) {
        f->confidence = CONFIDENCE_MEDIUM;
        snprintf(f->confidence_note, sizeof f->confidence_note,
                 "few sources for that many half-open connections: could also be a few broken "
                 "clients");
    }
    set_evidence(f, &s->ev[FINDING_SYN_FLOOD]);
    add_check(f, "ss -tn state syn-recv 'sport = :PORT' | wc -l   # half-open now", s->key.port);
    add_check(f, "nstat -az TcpExtSyncookiesSent TcpExtSyncookiesRecv TcpExtListenDrops",
              s->key.port);
    add_check(f, "sysctl net.ipv4.tcp_syncookies net.ipv4.tcp_max_syn_backlog "
                 "net.ipv4.tcp_synack_retries",
              s->key.port);
    quality(f, s);
}

static void finding_backlog(struct findings *fs, struct finding_list *l, struct service *s,
                            const char *subj, bool flood)
{
    uint64_t timed_out = s->verdicts[VERDICT_TIMED_OUT];
    uint64_t server_side = s->synack_after_ack_conns + s->unacked_after_accept;
    uint64_t total = timed_out + s->retry_success + server_side;
    if (flood || s->answered == 0 || server_side == 0 || total < fs->cfg.backlog_min_signals)
        return;
    struct finding *f = new_finding(l, FINDING_BACKLOG_OVERFLOW, subj);
    if (!f)
        return;
    snprintf(f->statement, sizeof f->statement,
             "The listener %s answered %llu of %llu connection attempts but dropped others "
             "silently: %llu attempts timed out, %llu succeeded only after a SYN retry, %llu "
             "got their SYN-ACK resent %llu times although the client's ACK had arrived, and "
             "%llu just-accepted connections never had their data acknowledged: the accept "
             "queue overflowed (the application does not accept() fast enough, or its listen "
             "backlog is too small).",
             subj, (unsigned long long)s->answered, (unsigned long long)s->conns,
             (unsigned long long)timed_out, (unsigned long long)s->retry_success,
             (unsigned long long)s->synack_after_ack_conns,
             (unsigned long long)s->synack_after_ack,
             (unsigned long long)s->unacked_after_accept);
    if (!(s->synack_after_ack_conns && s->unacked_after_accept) && !(timed_out && server_side)) {
        f->confidence = CONFIDENCE_MEDIUM;
        snprintf(f->confidence_note, sizeof f->confidence_note,
                 "only one kind of evidence of dropped handshakes");
    }
    set_evidence(f, &s->ev[FINDING_BACKLOG_OVERFLOW]);
    add_check(f, "ss -ltn 'sport = :PORT'   # Recv-Q (waiting to be accepted) vs Send-Q (backlog)",
              s->key.port);
    add_check(f, "nstat -az TcpExtListenOverflows TcpExtListenDrops   # or: netstat -s | grep -i "
                 "listen",
              s->key.port);
    add_check(f, "sysctl net.core.somaxconn net.ipv4.tcp_max_syn_backlog   # and the backlog "
                 "passed to listen()",
              s->key.port);
    quality(f, s);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void finding_close_wait(struct findings *fs, struct finding_list *l, struct service *s,
                               const char *subj)
{
    uint64_t n = s->cw_server_open + s->cw_client_open;
    if (n == 0 || n < fs->cfg.close_wait_min)
        return;
    struct finding *f = new_finding(l, FINDING_CLOSE_WAIT_LEAK, subj);
    if (!f)
        return;
    int64_t sorted[CW_SAMPLES];
    memcpy(sorted, s->cw_open_ns, s->cw_n * sizeof sorted[0]);
    qsort(sorted, s->cw_n, sizeof sorted[0], cmp_i64);
    char lo[32], med[32], hi[32];
    classify_fmt_duration(lo, sizeof lo, sorted[0]);
    classify_fmt_duration(med, sizeof med, sorted[s->cw_n / 2]);
    classify_fmt_duration(hi, sizeof hi, s->cw_open_max_ns);
    bool server = s->cw_server_open >= s->cw_client_open;
    snprintf(f->statement, sizeof f->statement,
             "%llu connections to %s were closed by the %s (FIN, acknowledged) but the %s never "
             "closed its side: it stayed open %s to %s (median %s) until the capture ended. "
             "The %s application does not close() sockets after the peer's FIN, so they pile "
             "up in CLOSE_WAIT.",
             (unsigned long long)n, subj, server ? "client" : "server",
             server ? "server" : "client", lo, hi, med, server ? "server" : "client");
    if (s->cw_open_max_ns < 5000000000LL) {
        f->confidence = n >= 3 ? CONFIDENCE_MEDIUM : CONFIDENCE_LOW;
        snprintf(f->confidence_note, sizeof f->confidence_note,
                 "the capture ended %s after the FINs: a slow but correct close looks the same "
                 "for that long",
                 hi);
    }
    set_evidence(f, &s->ev[FINDING_CLOSE_WAIT_LEAK]);
    add_check(f, "ss -tanp state close-wait '( sport = :PORT )'   # on the server", s->key.port);
    add_check(f, "lsof -nP -iTCP:PORT -sTCP:CLOSE_WAIT   # which process holds them",
              s->key.port);
    add_check(f, "ls /proc/PID/fd | wc -l; ulimit -n   # file descriptors running out?",
              s->key.port);
    quality(f, s);
}

static void finding_idle_timeout(struct findings *fs, struct finding_list *l, struct service *s,
                                 const char *subj)
{
    if (s->idle_n == 0)
        return;
    /* The largest cluster of "about the same" fatal silences. */
    int64_t sorted[IDLE_SAMPLES];
    memcpy(sorted, s->idle_ns, s->idle_n * sizeof sorted[0]);
    qsort(sorted, s->idle_n, sizeof sorted[0], cmp_i64);
    size_t best_i = 0, best_n = 1;
    for (size_t i = 0; i < s->idle_n; i++) {
        size_t j = i;
        while (j + 1 < s->idle_n &&
               (double)(sorted[j + 1] - sorted[i]) <=
                   fs->cfg.idle_cluster * (double)sorted[i] + 5e8)
            j++;
        if (j - i + 1 > best_n) {
            best_n = j - i + 1;
            best_i = i;
        }
    }
    int64_t lo = sorted[best_i], hi = sorted[best_i + best_n - 1];
    struct finding *f = new_finding(l, FINDING_IDLE_TIMEOUT, subj);
    if (!f)
        return;
    size_t middlebox = 0;
    for (size_t i = 0; i < s->idle_n; i++)
        middlebox += s->idle_middlebox[i];
    char a[32], b[32], sv[96] = "", ka[448] = "", mb[160] = "";
    classify_fmt_duration(a, sizeof a, lo);
    classify_fmt_duration(b, sizeof b, hi);
    if (s->survived_idle_ns >= 1000000000LL) {
        char t[32];
        snprintf(sv, sizeof sv, " and more than %s (silences that long were survived)",
                 classify_fmt_duration(t, sizeof t, s->survived_idle_ns));
    }
    if (s->ka_conns) {
        char i1[32], i2[32], dead[160] = "", live[160] = "";
        if (s->ka_dead)
            snprintf(dead, sizeof dead, " %llu that died sent their first probe after %s-%s of "
                     "silence, too late;", (unsigned long long)s->ka_dead,
                     classify_fmt_duration(i1, sizeof i1, s->ka_dead_min_ns),
                     classify_fmt_duration(i2, sizeof i2, s->ka_dead_max_ns));
        if (s->ka_live)
            snprintf(live, sizeof live, " %llu that survived probed after %s-%s;",
                     (unsigned long long)s->ka_live, classify_fmt_duration(i1, sizeof i1, s->ka_live_min_ns),
                     classify_fmt_duration(i2, sizeof i2, s->ka_live_max_ns));
        mark_cut(ka, sizeof ka,
                 snprintf(ka, sizeof ka,
                          " Keepalives:%s%s they protect a connection only if the first probe "
                          "comes before the path's timeout.",
                          dead, live));
    } else {
        snprintf(ka, sizeof ka, " No keepalive probes were seen on these connections.");
    }
    if (middlebox)
        snprintf(mb, sizeof mb,
                 " %zu of the RSTs carry a TTL unlike the server's own segments: a middlebox "
                 "sent them.",
                 middlebox);
    mark_cut(f->statement, sizeof f->statement,
             snprintf(f->statement, sizeof f->statement,
                      "%zu connections to %s died right after %s of silence (between %s and "
                      "%s): a device on the path (NAT, firewall, load balancer) forgets idle "
                      "flows after less than ~%s%s.%s%s",
                      best_n, subj, best_n > 1 ? "about the same length" : "a long stretch", a,
                      b, a, sv, mb, ka));
    if (best_n < 2) {
        f->confidence = CONFIDENCE_LOW;
        snprintf(f->confidence_note, sizeof f->confidence_note,
                 "a single connection: the peer may simply have closed it");
    }
    struct evidence e;
    memset(&e, 0, sizeof e);
    for (size_t i = 0; i < s->idle_n; i++)
        evidence_add(&e, s->idle_ids[i], s->idle_frames[i]);
    set_evidence(f, &e);
    add_check(f, "conntrack -L | grep PORT; check NAT / firewall / load-balancer idle timeouts",
              s->key.port);
    add_check(f, "sysctl net.ipv4.tcp_keepalive_time net.ipv4.tcp_keepalive_intvl "
                 "net.ipv4.tcp_keepalive_probes",
              s->key.port);
    add_check(f, "ss -tno '( dport = :PORT or sport = :PORT )'   # keepalive timers in use",
              s->key.port);
    quality(f, s);
}

static void finding_retrans(struct findings *fs, struct finding_list *l, struct service *s,
                            const char *subj)
{
    if (s->rtx < fs->cfg.retrans_min || s->segments == 0 ||
        (double)s->rtx / (double)s->segments < fs->cfg.retrans_min_rate)
        return;
    struct finding *f = new_finding(l, FINDING_RETRANSMISSIONS, subj);
    if (!f)
        return;
    uint64_t timeout = s->rtx - s->rtx_fast - s->rtx_spurious;
    snprintf(f->statement, sizeof f->statement,
             "%llu of %llu segments to and from %s (%.1f%%) were retransmissions, on %llu of "
             "%llu connections: %llu after a timeout, %llu fast retransmits, %llu spurious "
             "(keepalives and zero-window probes excluded).",
             (unsigned long long)s->rtx, (unsigned long long)s->segments, subj,
             100.0 * (double)s->rtx / (double)s->segments, (unsigned long long)s->rtx_conns,
             (unsigned long long)s->conns, (unsigned long long)timeout,
             (unsigned long long)s->rtx_fast, (unsigned long long)s->rtx_spurious);
    set_evidence(f, &s->ev[FINDING_RETRANSMISSIONS]);
    add_check(f, "ss -ti '( sport = :PORT or dport = :PORT )'   # retrans, rto, lost per socket",
              s->key.port);
    add_check(f, "nstat -az TcpRetransSegs TcpExtTCPLostRetransmit TcpExtTCPSpuriousRTOs",
              s->key.port);
    add_check(f, "ip -s link; ethtool -S IFACE | grep -i -e drop -e err   # drops on the hosts",
              s->key.port);
    quality(f, s);
}

static double rtt_quantile(const struct service *s, double q)
{
    uint64_t want = (uint64_t)ceil(q * (double)s->rtt_n), acc = 0;
    if (want == 0)
        want = 1;
    for (unsigned b = 0; b < RTT_BUCKETS; b++) {
        acc += s->rtt_hist[b];
        if (acc >= want)
            return rtt_bucket_seconds(b);
    }
    return 0;
}

static void finding_slow_handshake(struct findings *fs, struct finding_list *l,
                                   struct service *s, const char *subj)
{
    double p50 = rtt_quantile(s, 0.50), p95 = rtt_quantile(s, 0.95), p99 = rtt_quantile(s, 0.99);
    bool slow = s->rtt_n >= 5 && p95 >= fs->cfg.slow_handshake_s;
    if (!s->retry_success && !slow)
        return;
    struct finding *f = new_finding(l, FINDING_SLOW_HANDSHAKE, subj);
    if (!f)
        return;
    char retry[240] = "";
    if (s->retry_success)
        snprintf(retry, sizeof retry,
                 " %llu of %llu connections succeeded only after their SYN was retried (each "
                 "added the 1 s / 3 s SYN retry delay): their first SYN was lost or dropped.",
                 (unsigned long long)s->retry_success, (unsigned long long)s->conns);
    snprintf(f->statement, sizeof f->statement,
             "Handshake round-trip times to %s over %llu connections: p50 %.2f ms, p95 %.2f ms, "
             "p99 %.2f ms.%s",
             subj, (unsigned long long)s->rtt_n, p50 * 1e3, p95 * 1e3, p99 * 1e3, retry);
    if (!s->retry_success && s->rtt_n < 20) {
        f->confidence = CONFIDENCE_MEDIUM;
        snprintf(f->confidence_note, sizeof f->confidence_note,
                 "fewer than 20 handshakes measured");
    }
    set_evidence(f, &s->ev[FINDING_SLOW_HANDSHAKE]);
    add_check(f, "nstat -az TcpExtListenDrops TcpExtTCPReqQFullDrop   # on the server",
              s->key.port);
    add_check(f, "nft list ruleset; iptables -S   # SYN rate limits on the path", s->key.port);
    add_check(f, "sysctl net.ipv4.tcp_syn_retries net.ipv4.tcp_syn_linear_timeouts   # client",
              s->key.port);
    quality(f, s);
}

static void finding_nagle(struct findings *fs, struct finding_list *l, struct service *s,
                          const char *subj)
{
    uint64_t n = s->nagle_events[0] + s->nagle_events[1];
    if (n < fs->cfg.nagle_min_events)
        return;
    double mean_ms = (double)s->nagle_delay_ns / (double)n / 1e6;
    if (mean_ms < 20.0 || mean_ms > 500.0)
        return;
    struct finding *f = new_finding(l, FINDING_NAGLE_DELAYED_ACK, subj);
    if (!f)
        return;
    bool client = s->nagle_events[0] >= s->nagle_events[1];
    snprintf(f->statement, sizeof f->statement,
             "%llu times on %llu connection%s to %s, a small segment from the %s waited for the "
             "%s's delayed ACK (%.0f ms on average, %.2f s added in total) before it could "
             "leave: Nagle's algorithm holding the second small write of a write-write-read "
             "exchange until the first is acknowledged.",
             (unsigned long long)n, (unsigned long long)s->nagle_conns,
             s->nagle_conns == 1 ? "" : "s", subj, client ? "client" : "server",
             client ? "server" : "client", mean_ms, (double)s->nagle_delay_ns / 1e9);
    set_evidence(f, &s->ev[FINDING_NAGLE_DELAYED_ACK]);
    add_check(f, "set TCP_NODELAY on the sending socket, or write each message in one call",
              s->key.port);
    add_check(f, "ss -ti '( sport = :PORT or dport = :PORT )'   # ato: the delayed-ACK timeout",
              s->key.port);
    quality(f, s);
}

static void finding_churn(struct findings *fs, struct finding_list *l, struct pair *p)
{
    double span = (double)(p->last_start_ns - p->first_start_ns) / 1e9;
    if (span < 0.001)
        span = 0.001;
    double rate = (double)p->conns / span;
    bool busy = p->conns >= fs->cfg.churn_min_connections && rate >= fs->cfg.churn_min_rate;
    if (!busy && p->failed_recent == 0)
        return;
    char client[48], svc[80], subj[136];
    ip_addr_format(&p->key.client, p->key.svc.ip_version, client, sizeof client);
    fmt_svc(svc, sizeof svc, &p->key.svc);
    snprintf(subj, sizeof subj, "%s -> %s", client, svc);
    struct finding *f = new_finding(l, FINDING_PORT_CHURN, subj);
    if (!f)
        return;
    uint64_t distinct = 0;
    if (p->ports_all)
        for (unsigned i = 0; i < PORT_BITMAP_BYTES; i++)
            distinct += (uint64_t)__builtin_popcount(p->ports_all[i]);
    else
        distinct = p->conns;
    double need = rate * fs->cfg.time_wait_s;
    double pct = 100.0 * need / (double)fs->cfg.ephemeral_ports;
    double empty_s = (double)fs->cfg.ephemeral_ports / rate;
    snprintf(f->statement, sizeof f->statement,
             "%s opened %llu connections to %s in %.2f s (~%.0f/s) from %llu distinct source "
             "ports; the client closed first on %llu of them (so it holds each port %.0f s in "
             "TIME_WAIT). At that rate it needs ~%.0f ports per %.0f s, %.0f%% of the %u-port "
             "ephemeral range: the range runs out after ~%.1f s. %llu 4-tuples were reused "
             "within %.0f-%.0f s and %llu attempts failed on a recently used port.",
             client, (unsigned long long)p->conns, svc, span, rate, (unsigned long long)distinct,
             (unsigned long long)p->client_first, fs->cfg.time_wait_s, need, fs->cfg.time_wait_s,
             pct, fs->cfg.ephemeral_ports, empty_s, (unsigned long long)p->reused,
             fs->cfg.time_wait_s, 2 * fs->cfg.time_wait_s, (unsigned long long)p->failed_recent);
    if (span < 10.0) {
        f->confidence = pct >= 100.0 ? CONFIDENCE_MEDIUM : CONFIDENCE_LOW;
        snprintf(f->confidence_note, sizeof f->confidence_note,
                 "the connections span only %.2f s: the rate is extrapolated", span);
    } else if (pct < 50.0 && p->failed_recent == 0) {
        f->confidence = CONFIDENCE_MEDIUM;
        snprintf(f->confidence_note, sizeof f->confidence_note,
                 "the rate uses less than half the range");
    }
    set_evidence(f, p->failed_recent ? &p->ev_failed : &p->ev);
    add_check(f, "ss -tan state time-wait | wc -l   # on the client", p->key.svc.port);
    add_check(f, "sysctl net.ipv4.ip_local_port_range net.ipv4.tcp_tw_reuse   # on the client",
              p->key.svc.port);
    add_check(f, "nstat -az TcpExtTW TcpExtTCPTimeWaitOverflow   # reuse connections (pooling, "
                 "keep-alive) instead",
              p->key.svc.port);
}

/* Per-connection keepalive problems: unanswered probes, or a connection the
 * keepalive mechanism killed. */
static void add_keepalive_problem(struct findings *fs, const struct conn *c,
                                  const struct verdict_info *v)
{
    const struct conn_rare *rare = conn_rare(c);
    enum side s = rare->ep[SIDE_CLIENT].keepalives >= rare->ep[SIDE_SERVER].keepalives
                      ? SIDE_CLIENT
                      : SIDE_SERVER;
    const struct endpoint *e = &c->ep[s];
    const struct ep_rare *e_rare = ep_rare(c, e);
    uint32_t unanswered = e_rare->keepalives > e_rare->keepalive_acks
                              ? e_rare->keepalives - e_rare->keepalive_acks
                              : 0;
    bool killed = v->verdict == VERDICT_RESET && c->rst_side == s && unanswered > 0;
    bool dead_path = v->verdict == VERDICT_RESET && c->rst_side != s;
    if (unanswered < 2 && !killed && !dead_path)
        return;
    if (fs->ka_n >= FINDING_MAX_IDS) {
        fs->ka_more++;
        return;
    }
    struct finding *nv = realloc(fs->ka, (fs->ka_n + 1) * sizeof *nv);
    if (!nv)
        return;
    fs->ka = nv;
    struct finding *f = &fs->ka[fs->ka_n++];
    memset(f, 0, sizeof *f);
    f->kind = FINDING_KEEPALIVE;
    f->confidence = CONFIDENCE_HIGH;
    char a[48], b[48], gap[32], idle[32];
    struct ip_addr client = conn_addr(c, SIDE_CLIENT), server = conn_addr(c, SIDE_SERVER);
    ip_addr_format(&client, c->key.ip_version, a, sizeof a);
    ip_addr_format(&server, c->key.ip_version, b, sizeof b);
    snprintf(f->subject, sizeof f->subject, "%s:%u -> %s:%u", a, conn_port(c, SIDE_CLIENT), b,
             conn_port(c, SIDE_SERVER));
    classify_fmt_duration(gap, sizeof gap, e_rare->keepalive_gap_ns);
    classify_fmt_duration(idle, sizeof idle, e_rare->keepalive_idle_ns);
    const char *end = killed ? "then it killed the connection with a RST: keepalive found the "
                               "peer (or the path) dead"
                      : dead_path ? "the other side's address answered with a RST instead: the "
                                    "peer or a middlebox had already forgotten the connection"
                                  : "the connection never recovered";
    snprintf(f->statement, sizeof f->statement,
             "The %s sent %u keepalive probe%s (the first after %s of silence%s%s); %u got no "
             "ACK, and %s.",
             side_name(s), e_rare->keepalives, e_rare->keepalives == 1 ? "" : "s", idle,
             e_rare->keepalives > 1 ? ", then every " : "", e_rare->keepalives > 1 ? gap : "",
             unanswered, end);
    f->connections = 1;
    f->n_ids = 1;
    f->ids[0] = conn_id(c);
    f->frames[0] = rare->frame_rst ? rare->frame_rst : conn_frame(c, &c->last_frame);
    add_check(f, "sysctl net.ipv4.tcp_keepalive_time net.ipv4.tcp_keepalive_intvl "
                 "net.ipv4.tcp_keepalive_probes",
              conn_port(c, SIDE_SERVER));
    char chk[160];
    snprintf(chk, sizeof chk, "ss -tno dst %s   # on the %s: keepalive timer and probes",
             s == SIDE_CLIENT ? b : a, side_name(s));
    add_check(f, chk, conn_port(c, SIDE_SERVER));
}

static int finding_cmp(const void *x, const void *y)
{
    const struct finding *a = x, *b = y;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->connections != b->connections)
        return a->connections > b->connections ? -1 : 1;
    int r = strcmp(a->subject, b->subject);
    if (r)
        return r;
    return (a->n_ids && b->n_ids) ? (a->ids[0] > b->ids[0]) - (a->ids[0] < b->ids[0]) : 0;
}

size_t findings_finish(struct findings *fs, finding_emit_fn emit, void *ctx, uint32_t *kinds_seen)
{
    struct finding_list l = {0};
    *kinds_seen = 0;
    for (size_t i = 0; i < fs->n_services; i++) {
        struct service *s = fs->services[i];
        char subj[96];
        fmt_svc(subj, sizeof subj, &s->key);
        size_t before = l.n;
        finding_syn_flood(fs, &l, s, subj);
        bool flood = l.n > before;
        finding_backlog(fs, &l, s, subj, flood);
        finding_idle_timeout(fs, &l, s, subj);
        finding_close_wait(fs, &l, s, subj);
        finding_retrans(fs, &l, s, subj);
        finding_slow_handshake(fs, &l, s, subj);
        finding_nagle(fs, &l, s, subj);
    }
    for (size_t i = 0; i < fs->n_pairs; i++)
        finding_churn(fs, &l, fs->pairs[i]);
    for (size_t i = 0; i < fs->ka_n; i++) {
        struct finding *f = new_finding(&l, FINDING_KEEPALIVE, "");
        if (f)
            *f = fs->ka[i];
    }
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, finding_cmp);
    for (size_t i = 0; i < l.n; i++) {
        *kinds_seen |= 1u << l.v[i].kind;
        emit(ctx, &l.v[i]);
    }
    free(l.v);
    return l.n;
}

void findings_free(struct findings *fs)
{
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n_services; i++) {
        free(fs->services[i]->half_open_sources);
        free(fs->services[i]);
    }
    for (size_t i = 0; i < fs->n_pairs; i++) {
        struct pair *p = fs->pairs[i];
        free(p->ports_all);
        free(p->ports_win[0]);
        free(p->ports_win[1]);
        free(p);
    }
    free(fs->services);
    free(fs->pairs);
    free(fs->service_ix.slots);
    free(fs->pair_ix.slots);
    free(fs->pair_seen);
    free(fs->ka);
    free(fs);
}
