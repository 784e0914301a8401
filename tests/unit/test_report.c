/* SPDX-License-Identifier: MIT */
/*
 * test_report.c - unit tests for the JSON reporter (src/report_json.c) and
 * the helpers it shares (src/report.c); the text reporter only where both
 * must agree (sentences written on demand).
 *
 * The reporter writes into an open_memstream() buffer; each line is then
 * checked by a small strict JSON parser written here (objects, arrays,
 * strings with escapes, numbers, true/false/null), which also collects the
 * top-level keys of the line with the raw text of their values. So every
 * line must be one valid JSON object, every field of docs/output.md must
 * appear exactly once, and values are compared exactly (numbers as the
 * reporter printed them, strings after unescaping).
 *
 * Connection records are built by hand, so the reporter is tested apart
 * from the tracker; verdicts come from the real classifier where that
 * matters, or are written by hand to test escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "flow_table.h"
#include "report.h"
#include "seg_builder.h"

/* ---------------------------------------------------------------------------
 * A strict little JSON parser
 */
#define JKEY_MAX 64
#define JFIELDS_MAX 96

struct jfield {
    char key[JKEY_MAX];
    const char *val; /* raw text of the value, not terminated */
    size_t val_len;
};

struct jobj {
    struct jfield f[JFIELDS_MAX];
    size_t n;
};

struct jp {
    const char *s;
    size_t i, n;
    int depth;
};

static void j_ws(struct jp *p)
{
    while (p->i < p->n && strchr(" \t\r\n", p->s[p->i]) && p->s[p->i])
        p->i++;
}

static int j_hex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A string; decoded into out (if not NULL; ASCII escapes only, others '?'). */
static bool j_string(struct jp *p, char *out, size_t outlen)
{
    size_t o = 0;
    if (p->i >= p->n || p->s[p->i] != '"')
        return false;
    p->i++;
    while (p->i < p->n) {
        unsigned char ch = (unsigned char)p->s[p->i++];
        char dec;
        if (ch == '"') {
            if (out)
                out[o < outlen ? o : outlen - 1] = '\0';
            return true;
        }
        if (ch < 0x20)
            return false; /* control characters must be escaped */
        if (ch == '\\') {
            if (p->i >= p->n)
                return false;
            char e = p->s[p->i++];
            switch (e) {
            case '"': dec = '"'; break;
            case '\\': dec = '\\'; break;
            case '/': dec = '/'; break;
            case 'b': dec = '\b'; break;
            case 'f': dec = '\f'; break;
            case 'n': dec = '\n'; break;
            case 'r': dec = '\r'; break;
            case 't': dec = '\t'; break;
            case 'u': {
                int v = 0;
                for (int k = 0; k < 4; k++) {
                    if (p->i >= p->n || j_hex(p->s[p->i]) < 0)
                        return false;
                    v = v * 16 + j_hex(p->s[p->i++]);
                }
                dec = v < 0x80 ? (char)v : '?';
                break;
            }
            default:
                return false;
            }
        } else {
            dec = (char)ch;
        }
        if (out && o + 1 < outlen)
            out[o++] = dec;
    }
    return false;
}

static bool j_number(struct jp *p)
{
    size_t start = p->i;
    if (p->i < p->n && p->s[p->i] == '-')
        p->i++;
    if (p->i >= p->n || !(p->s[p->i] >= '0' && p->s[p->i] <= '9'))
        return false;
    if (p->s[p->i] == '0' && p->i + 1 < p->n && p->s[p->i + 1] >= '0' && p->s[p->i + 1] <= '9')
        return false; /* no leading zeros */
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
        p->i++;
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        size_t d = p->i;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
        if (p->i == d)
            return false;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        size_t d = p->i;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
        if (p->i == d)
            return false;
    }
    return p->i > start;
}

static bool j_value(struct jp *p, struct jobj *collect);

static bool j_literal(struct jp *p, const char *lit)
{
    size_t l = strlen(lit);
    if (p->n - p->i < l || strncmp(p->s + p->i, lit, l) != 0)
        return false;
    p->i += l;
    return true;
}

/* An object; with collect, its keys and raw values are stored there. */
static bool j_object(struct jp *p, struct jobj *collect)
{
    if (p->s[p->i] != '{' || ++p->depth > 32)
        return false;
    p->i++;
    j_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        p->depth--;
        return true;
    }
    for (;;) {
        char key[JKEY_MAX];
        j_ws(p);
        if (!j_string(p, key, sizeof key))
            return false;
        j_ws(p);
        if (p->i >= p->n || p->s[p->i] != ':')
            return false;
        p->i++;
        j_ws(p);
        size_t vstart = p->i;
        if (!j_value(p, NULL))
            return false;
        if (collect) {
            if (collect->n >= JFIELDS_MAX)
                return false;
            struct jfield *f = &collect->f[collect->n++];
            snprintf(f->key, sizeof f->key, "%s", key);
            f->val = p->s + vstart;
            f->val_len = p->i - vstart;
        }
        j_ws(p);
        if (p->i >= p->n)
            return false;
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] == '}') {
            p->i++;
            p->depth--;
            return true;
        }
        return false;
    }
}

static bool j_array(struct jp *p)
{
    if (++p->depth > 32)
        return false;
    p->i++; /* '[' */
    j_ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        p->depth--;
        return true;
    }
    for (;;) {
        j_ws(p);
        if (!j_value(p, NULL))
            return false;
        j_ws(p);
        if (p->i >= p->n)
            return false;
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] == ']') {
            p->i++;
            p->depth--;
            return true;
        }
        return false;
    }
}

static bool j_value(struct jp *p, struct jobj *collect)
{
    if (p->i >= p->n)
        return false;
    switch (p->s[p->i]) {
    case '{':
        return j_object(p, collect);
    case '[':
        return j_array(p);
    case '"':
        return j_string(p, NULL, 0);
    case 't':
        return j_literal(p, "true");
    case 'f':
        return j_literal(p, "false");
    case 'n':
        return j_literal(p, "null");
    default:
        return j_number(p);
    }
}

/* Parses text[0..len) as exactly one JSON object; false (with the byte
 * where it went wrong in *at) if it is not. */
static bool json_parse(const char *text, size_t len, struct jobj *o, size_t *at)
{
    struct jp p = {text, 0, len, 0};
    memset(o, 0, sizeof *o);
    j_ws(&p);
    bool ok = p.i < p.n && p.s[p.i] == '{' && j_object(&p, o);
    if (ok) {
        j_ws(&p);
        ok = p.i == p.n;
    }
    *at = p.i;
    return ok;
}

/* As json_parse(), failing the test if the text is not one JSON object. */
static void json_object(const char *text, size_t len, struct jobj *o)
{
    size_t at;
    if (!json_parse(text, len, o, &at))
        fail_msg("not one JSON object (byte %zu): %.*s", at, (int)len, text);
}

static size_t jobj_count(const struct jobj *o, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < o->n; i++)
        n += strcmp(o->f[i].key, key) == 0;
    return n;
}

/* The field, which must be there exactly once. */
static const struct jfield *jget(const struct jobj *o, const char *key)
{
    size_t n = jobj_count(o, key);
    if (n != 1)
        fail_msg("field \"%s\" appears %zu times", key, n);
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->f[i].key, key) == 0)
            return &o->f[i];
    return NULL;
}

/* The raw value text equals want (numbers, literals, objects as printed). */
static void assert_raw(const struct jobj *o, const char *key, const char *want)
{
    const struct jfield *f = jget(o, key);
    assert_non_null(f);
    if (!f)
        return;
    if (f->val_len != strlen(want) || strncmp(f->val, want, f->val_len) != 0)
        fail_msg("field \"%s\" is %.*s, expected %s", key, (int)f->val_len, f->val, want);
}

/* The value is a string which, unescaped, equals want. */
static void assert_str(const struct jobj *o, const char *key, const char *want)
{
    const struct jfield *f = jget(o, key);
    char buf[1024];
    assert_non_null(f);
    if (!f)
        return;
    struct jp p = {f->val, 0, f->val_len, 0};
    if (!j_string(&p, buf, sizeof buf))
        fail_msg("field \"%s\" is not a string: %.*s", key, (int)f->val_len, f->val);
    assert_string_equal(buf, want);
}

/* The value is an object: parse it into sub. */
static void get_obj(const struct jobj *o, const char *key, struct jobj *sub)
{
    const struct jfield *f = jget(o, key);
    assert_non_null(f);
    if (!f)
        return;
    json_object(f->val, f->val_len, sub);
}

/* ---------------------------------------------------------------------------
 * Capturing a reporter's output
 */
struct capture {
    char *buf;
    size_t len;
    FILE *f;
    struct reporter *r;
    char *lines[16];
    size_t n_lines;
};

static void cap_open(struct capture *cp, int ts_digits, bool live)
{
    memset(cp, 0, sizeof *cp);
    cp->f = open_memstream(&cp->buf, &cp->len);
    assert_non_null(cp->f);
    const struct reporter_ops *ops = reporter_find("json");
    assert_non_null(ops);
    struct reporter_config rc = {
        .out = cp->f, .ts_digits = ts_digits, .max_problem_lines = 100, .live = live};
    cp->r = ops->create(&rc);
    assert_non_null(cp->r);
    assert_ptr_equal(cp->r->ops, ops);
}

/* Destroys the reporter and splits the output into lines (each must end
 * with a newline). */
static void cap_close(struct capture *cp)
{
    cp->r->ops->destroy(cp->r);
    assert_int_equal(fclose(cp->f), 0);
    assert_true(cp->len > 0);
    assert_int_equal(cp->buf[cp->len - 1], '\n');
    char *s = cp->buf;
    while (*s) {
        char *nl = strchr(s, '\n');
        assert_non_null(nl);
        *nl = '\0';
        assert_true(cp->n_lines < 16);
        cp->lines[cp->n_lines++] = s;
        s = nl + 1;
    }
}

static void cap_free(struct capture *cp)
{
    free(cp->buf);
}

static void line_object(const struct capture *cp, size_t i, struct jobj *o)
{
    assert_true(i < cp->n_lines);
    json_object(cp->lines[i], strlen(cp->lines[i]), o);
}

/* ---------------------------------------------------------------------------
 * Connection records
 */

static void conn_between(struct conn *c, const struct ip_addr *cli, uint16_t cport,
                         const struct ip_addr *srv, uint16_t sport, uint8_t ver)
{
    memset(c, 0, sizeof *c);
    struct decoded d = sb_tcp(cli, cport, srv, sport, ver, TCP_SYN, 1, 0, 0, 1000);
    bool lo;
    sb_conn_key(c, &d.tcp, &lo);
    if (lo)
        c->flags |= CONN_CLIENT_IS_LO;
    c->tunit = 3; /* microseconds, as in a classic pcap */
}

/* A clean closed IPv6 connection, frames 1-9, the second FIN frame 8. The
 * server's address needs RFC 5952's "first longest run" rule. */
static void conn_clean_v6(struct conn *c)
{
    struct ip_addr cli = sb_ip6("2001:db8::1"), srv = sb_ip6("2001:db8:0:0:1:0:0:1");
    conn_between(c, &cli, 40002, &srv, 443, 6);
    struct endpoint *cl = &c->ep[SIDE_CLIENT], *sv = &c->ep[SIDE_SERVER];
    conn_set_id(c, 7);
    conn_set_first_frame(c, 1);
    conn_set_frame(NULL, c, &c->last_frame, 9);
    conn_set_frame(NULL, c, &c->frame_established, 3);
    c->start_ns = SB_T0_NS;
    c->last_ns = SB_T0_NS + SB_MS(80);
    conn_set_time(NULL, c, &c->established, SB_T0_NS + SB_MS(20));
    conn_set_dur(NULL, c, &c->max_idle, SB_MS(10));
    c->handshake = HS_COMPLETE;
    c->flags |= CONN_ESTABLISHED | CONN_DONE | CONN_WSCALE_KNOWN;
    cl->flags = EP_SEEN | EP_SYN | EP_FIN | EP_FIN_ACKED | EP_SEQ_KNOWN | EP_ACK_KNOWN;
    sv->flags = cl->flags;
    cl->state = TCP_TIME_WAIT;
    sv->state = TCP_CLOSED;
    cl->syns = sv->syns = 1;
    conn_set_frame(NULL, c, &cl->frame_syn, 1);
    conn_set_frame(NULL, c, &sv->frame_syn, 2);
    conn_set_time(NULL, c, &cl->ts_syn, SB_T0_NS);
    conn_set_frame(NULL, c, &cl->frame_fin, 7);
    conn_set_frame(NULL, c, &sv->frame_fin, 8);
    cl->pkts = 6;
    sv->pkts = 3;
    cl->bytes = 100;
    sv->bytes = 200;
    cl->retransmits = 1;
    cl->mss = 1440;
    sv->mss = 1460;
}

static const struct classify_config ccfg = {3000000000LL, 1000000000LL};

/* ---------------------------------------------------------------------------
 * Tests
 */

static const char *const required_fields[] = {
    "type",          "id",           "client",       "client_port",     "server",
    "server_port",   "ip_version",   "verdict",      "reason",          "start",
    "end",           "duration",     "first_frame",  "last_frame",      "verdict_frame",
    "handshake",     "client_state", "server_state", "reset_by",        "syn_retransmits",
    "stall",         "packets",      "bytes",        "retransmits",     "handshake_rtt",
};

static void test_connection_required_fields(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    struct capture cp;
    struct jobj o;
    conn_clean_v6(&c);
    classify_connection(&c, &ccfg, c.last_ns, &v);
    assert_int_equal(v.verdict, VERDICT_CLOSED);
    cap_open(&cp, 6, false);
    cp.r->ops->connection(cp.r, &c, &v, END_FINISHED);
    cap_close(&cp);
    assert_int_equal(cp.n_lines, 1);
    line_object(&cp, 0, &o);

    for (size_t i = 0; i < sizeof required_fields / sizeof required_fields[0]; i++)
        (void)jget(&o, required_fields[i]);
    assert_string_equal(o.f[0].key, "type");
    assert_str(&o, "type", "connection");
    assert_raw(&o, "id", "7");
    assert_str(&o, "client", "2001:db8::1");
    assert_raw(&o, "client_port", "40002");
    assert_str(&o, "server", "2001:db8::1:0:0:1");
    assert_raw(&o, "server_port", "443");
    assert_raw(&o, "ip_version", "6");
    assert_str(&o, "verdict", "closed");
    assert_str(&o, "reason", v.reason);
    assert_raw(&o, "start", "1700000000.000000");
    assert_raw(&o, "end", "1700000000.080000");
    assert_raw(&o, "duration", "0.080000");
    assert_raw(&o, "first_frame", "1");
    assert_raw(&o, "last_frame", "9");
    assert_raw(&o, "verdict_frame", "8");
    assert_str(&o, "handshake", "complete");
    assert_str(&o, "client_state", "TIME_WAIT");
    assert_str(&o, "server_state", "CLOSED");
    assert_raw(&o, "reset_by", "null");
    assert_raw(&o, "syn_retransmits", "0");
    assert_raw(&o, "stall", "null");
    assert_raw(&o, "packets", "{\"client\":6,\"server\":3}");
    assert_raw(&o, "bytes", "{\"client\":100,\"server\":200}");
    assert_raw(&o, "retransmits", "{\"client\":1,\"server\":0}");
    assert_raw(&o, "handshake_rtt", "0.020000");
    cap_free(&cp);
}

/* The fields docs/output.md adds beyond the required ones. */
static void test_connection_documented_fields(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    struct capture cp;
    struct jobj o;
    conn_clean_v6(&c);
    sb_rare(&c)->ep[SIDE_SERVER].rst_ignored = 2;
    sb_rare(&c)->ep[SIDE_CLIENT].keepalives = 3;
    classify_connection(&c, &ccfg, c.last_ns, &v);
    cap_open(&cp, 6, false);
    cp.r->ops->connection(cp.r, &c, &v, END_FINISHED);
    cap_close(&cp);
    line_object(&cp, 0, &o);
    assert_str(&o, "end_reason", "finished");
    assert_raw(&o, "evicted", "false");
    assert_str(&o, "roles", "syn");
    assert_raw(&o, "synack_retransmits", "0");
    assert_raw(&o, "fast_retransmits", "{\"client\":0,\"server\":0}");
    assert_raw(&o, "spurious_retransmits", "{\"client\":0,\"server\":0}");
    assert_raw(&o, "zero_windows", "{\"client\":0,\"server\":0}");
    assert_raw(&o, "zero_window_probes", "{\"client\":0,\"server\":0}");
    assert_raw(&o, "keepalives", "{\"client\":3,\"server\":0}");
    assert_raw(&o, "stall_episodes", "0");
    assert_raw(&o, "max_idle", "0.010000");
    assert_raw(&o, "fin_frames", "{\"client\":7,\"server\":8}");
    assert_raw(&o, "mss", "{\"client\":1440,\"server\":1460}");
    /* only when they apply */
    assert_int_equal(jobj_count(&o, "reset"), 0);
    assert_int_equal(jobj_count(&o, "icmp"), 0);
    assert_int_equal(jobj_count(&o, "syn_backoff"), 0);
    assert_raw(&o, "rst_ignored", "{\"client\":0,\"server\":2}");
    cap_free(&cp);
}

static void test_connection_reset(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    struct capture cp;
    struct jobj o, sub;
    struct ip_addr cli = sb_ip4(10, 0, 0, 1), srv = sb_ip4(10, 0, 0, 2);
    conn_between(&c, &cli, 51000, &srv, 80, 4);
    conn_set_id(&c, 1);
    conn_set_first_frame(&c, 1);
    conn_set_frame(NULL, &c, &c.last_frame, 6);
    c.start_ns = SB_T0_NS;
    c.last_ns = sb_rare(&c)->rst_ns = SB_T0_NS + SB_MS(5040);
    conn_set_time(NULL, &c, &c.established, SB_T0_NS + SB_MS(20));
    c.handshake = HS_COMPLETE;
    c.flags |= CONN_ESTABLISHED | CONN_RST | CONN_DONE;
    c.ep[SIDE_CLIENT].flags = EP_SEEN | EP_SYN;
    c.ep[SIDE_SERVER].flags = EP_SEEN | EP_SYN | EP_RST;
    c.ep[SIDE_CLIENT].syns = c.ep[SIDE_SERVER].syns = 1;
    conn_set_time(NULL, &c, &c.ep[SIDE_CLIENT].ts_syn, SB_T0_NS);
    c.rst_side = SIDE_SERVER;
    c.rst_phase = PHASE_ESTABLISHED;
    sb_rare(&c)->frame_rst = 6;
    sb_rare(&c)->idle_before_rst_ns = SB_SEC(5);
    sb_rare(&c)->ep[SIDE_SERVER].rst_ttl = 58;
    classify_connection(&c, &ccfg, c.last_ns, &v);
    assert_int_equal(v.verdict, VERDICT_RESET);
    cap_open(&cp, 6, false);
    cp.r->ops->connection(cp.r, &c, &v, END_FINISHED);
    cap_close(&cp);
    line_object(&cp, 0, &o);
    assert_str(&o, "client", "10.0.0.1");
    assert_str(&o, "server", "10.0.0.2");
    assert_raw(&o, "ip_version", "4");
    assert_str(&o, "verdict", "reset");
    assert_str(&o, "reset_by", "server");
    assert_raw(&o, "verdict_frame", "6");
    get_obj(&o, "reset", &sub);
    assert_str(&sub, "phase", "established");
    assert_raw(&sub, "frame", "6");
    assert_raw(&sub, "time", "1700000005.040000");
    assert_raw(&sub, "idle_before", "5.000000");
    assert_raw(&sub, "ttl", "58");
    cap_free(&cp);
}

static void test_connection_stall_and_eviction(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    struct capture cp;
    struct jobj o, sub;
    conn_clean_v6(&c);
    /* still open, client data retransmitted and unacked since frame 4 */
    c.flags &= (uint16_t)~CONN_DONE;
    c.flags |= CONN_EVICTED;
    c.ep[SIDE_CLIENT].flags &= (uint16_t)~(EP_FIN | EP_FIN_ACKED);
    c.ep[SIDE_SERVER].flags &= (uint16_t)~(EP_FIN | EP_FIN_ACKED);
    conn_set_frame(NULL, &c, &c.ep[SIDE_CLIENT].frame_fin, 0);
    conn_set_frame(NULL, &c, &c.ep[SIDE_SERVER].frame_fin, 0);
    c.ep[SIDE_CLIENT].state = c.ep[SIDE_SERVER].state = TCP_ESTABLISHED;
    c.ep[SIDE_CLIENT].stall.inflight = 1;
    c.ep[SIDE_CLIENT].stall.retransmitted = 1;
    conn_set_time(NULL, &c, &c.ep[SIDE_CLIENT].stall_since, SB_T0_NS + SB_MS(30));
    conn_set_frame(NULL, &c, &c.ep[SIDE_CLIENT].stall_frame, 4);
    classify_connection(&c, &ccfg, SB_T0_NS + SB_MS(2530), &v);
    assert_int_equal(v.verdict, VERDICT_STALLED);
    cap_open(&cp, 6, false);
    cp.r->ops->connection(cp.r, &c, &v, END_EVICTED);
    cap_close(&cp);
    line_object(&cp, 0, &o);
    assert_str(&o, "verdict", "stalled");
    assert_raw(&o, "verdict_frame", "4");
    assert_str(&o, "end_reason", "evicted");
    assert_raw(&o, "evicted", "true");
    get_obj(&o, "stall", &sub);
    assert_str(&sub, "kind", "unacked_data");
    assert_str(&sub, "side", "server");
    assert_raw(&sub, "start", "1700000000.030000");
    assert_raw(&sub, "seconds", "2.500000");
    assert_raw(&sub, "ongoing", "true");
    assert_raw(&sub, "start_frame", "4");
    cap_free(&cp);
}

static void test_connection_syn_retries_and_icmp(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    struct capture cp;
    struct jobj o, sub;
    struct ip_addr cli = sb_ip4(10, 0, 0, 1), srv = sb_ip4(10, 0, 0, 2);
    conn_between(&c, &cli, 51000, &srv, 80, 4);
    conn_set_id(&c, 3);
    conn_set_first_frame(&c, 1);
    conn_set_frame(NULL, &c, &c.last_frame, 4);
    c.start_ns = SB_T0_NS;
    c.last_ns = SB_T0_NS + SB_MS(3002);
    c.handshake = HS_PARTIAL;
    c.ep[SIDE_CLIENT].flags = EP_SEEN | EP_SYN;
    c.ep[SIDE_CLIENT].state = TCP_SYN_SENT;
    c.ep[SIDE_CLIENT].syns = 3;
    conn_set_time(NULL, &c, &c.ep[SIDE_CLIENT].ts_syn, SB_T0_NS);
    sb_rare(&c)->syn_last_ns = SB_T0_NS + SB_SEC(3);
    sb_rare(&c)->syn_times_us[0] = 1000000;
    sb_rare(&c)->syn_times_us[1] = 3000000;
    c.flags |= CONN_ICMP | CONN_ICMP_SYN;
    sb_rare(&c)->frame_icmp = 4;
    sb_rare(&c)->icmp_src = sb_ip4(192, 0, 2, 254);
    sb_rare(&c)->icmp_type = 3;
    sb_rare(&c)->icmp_code = 13;
    sb_rare(&c)->icmp_ttl = 61;
    classify_connection(&c, &ccfg, c.last_ns, &v);
    assert_int_equal(v.verdict, VERDICT_REFUSED);
    cap_open(&cp, 6, false);
    cp.r->ops->connection(cp.r, &c, &v, END_CAPTURE_END);
    cap_close(&cp);
    line_object(&cp, 0, &o);
    assert_str(&o, "verdict", "refused");
    assert_raw(&o, "verdict_frame", "4");
    assert_raw(&o, "syn_retransmits", "2");
    assert_raw(&o, "syn_backoff", "[1.000,2.000]");
    assert_raw(&o, "handshake_rtt", "null");
    assert_str(&o, "handshake", "partial");
    assert_str(&o, "server_state", "CLOSED");
    assert_str(&o, "end_reason", "capture_end");
    assert_raw(&o, "reset_by", "null");
    get_obj(&o, "icmp", &sub);
    assert_str(&sub, "from", "192.0.2.254");
    assert_raw(&sub, "type", "3");
    assert_raw(&sub, "code", "13");
    assert_raw(&sub, "ttl", "61");
    assert_raw(&sub, "frame", "4");
    cap_free(&cp);
}

static void test_reason_is_escaped(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    struct capture cp;
    struct jobj o;
    conn_clean_v6(&c);
    classify_connection(&c, &ccfg, c.last_ns, &v);
    static const char tricky[] = "He said \"no\" \\ then\nleft\tat\x01 once / again";
    snprintf(v.reason, sizeof v.reason, "%s", tricky);
    cap_open(&cp, 6, false);
    cp.r->ops->connection(cp.r, &c, &v, END_FINISHED);
    cap_close(&cp);
    assert_int_equal(cp.n_lines, 1); /* the newline in the reason is escaped */
    line_object(&cp, 0, &o);
    assert_str(&o, "reason", tricky);
    cap_free(&cp);
}

static void test_ts_digits_9(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    struct capture cp;
    struct jobj o;
    conn_clean_v6(&c);
    c.start_ns = SB_T0_NS + 123;
    c.last_ns = SB_T0_NS + SB_MS(80) + 7;
    classify_connection(&c, &ccfg, c.last_ns, &v);
    cap_open(&cp, 9, false);
    cp.r->ops->connection(cp.r, &c, &v, END_FINISHED);
    cap_close(&cp);
    line_object(&cp, 0, &o);
    assert_raw(&o, "start", "1700000000.000000123");
    assert_raw(&o, "end", "1700000000.080000007");
    assert_raw(&o, "duration", "0.079999884");
    assert_raw(&o, "handshake_rtt", "0.020000000");
    cap_free(&cp);
}

static void test_summary_is_last(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    struct capture cp;
    struct jobj o, sub;
    conn_clean_v6(&c);
    classify_connection(&c, &ccfg, c.last_ns, &v);

    struct report_summary s;
    memset(&s, 0, sizeof s);
    s.frames = 18;
    s.connections = 2;
    s.verdicts[VERDICT_CLOSED] = 2;
    s.decode.tcp_segments = 17;
    s.decode.by_reason[DR_NOT_TCP] = 1;
    s.decode.by_reason[DR_TCP_OPTIONS] = 4;
    s.decode.by_reason[DR_IP_SHORT] = 1;
    s.tracker.evicted = 0;
    s.tracker.replaced = 1;
    s.peak_connections = 2;
    s.first_ns = SB_T0_NS;
    s.last_ns = SB_T0_NS + SB_SEC(2);
    s.source = "dir/a \"b\".pcap";
    s.link = "EN10MB";
    s.damaged = true;
    snprintf(s.damage, sizeof s.damage, "truncated record at byte 1234");

    cap_open(&cp, 6, false);
    cp.r->ops->connection(cp.r, &c, &v, END_FINISHED);
    conn_set_id(&c, 8);
    cp.r->ops->connection(cp.r, &c, &v, END_REPLACED);
    cp.r->ops->end(cp.r, &s);
    cap_close(&cp);
    assert_int_equal(cp.n_lines, 3);
    line_object(&cp, 0, &o);
    assert_raw(&o, "id", "7");
    line_object(&cp, 1, &o);
    assert_raw(&o, "id", "8");
    assert_str(&o, "end_reason", "replaced");

    line_object(&cp, 2, &o);
    assert_string_equal(o.f[0].key, "type");
    assert_str(&o, "type", "summary");
    assert_str(&o, "source", "dir/a \"b\".pcap");
    assert_str(&o, "link_type", "EN10MB");
    assert_raw(&o, "frames", "18");
    assert_raw(&o, "tcp_segments", "17");
    assert_raw(&o, "icmp_errors", "0");
    assert_raw(&o, "start", "1700000000.000000");
    assert_raw(&o, "end", "1700000002.000000");
    assert_raw(&o, "connections", "2");
    get_obj(&o, "verdicts", &sub);
    assert_int_equal(sub.n, VERDICT__COUNT);
    for (unsigned i = 0; i < VERDICT__COUNT; i++)
        assert_raw(&sub, verdict_name((enum verdict)i), i == VERDICT_CLOSED ? "2" : "0");
    get_obj(&o, "skipped", &sub);
    assert_raw(&sub, "not_tcp", "1");
    assert_raw(&sub, "not_ip", "0");
    assert_raw(&o, "malformed", "5");
    get_obj(&o, "malformed_by_reason", &sub);
    assert_raw(&sub, "tcp_options", "4");
    assert_raw(&sub, "ip_short", "1");
    assert_int_equal(jobj_count(&sub, "not_tcp"), 0);
    assert_raw(&o, "replaced", "1");
    assert_raw(&o, "evicted", "0");
    assert_raw(&o, "peak_connections", "2");
    static const char *const present[] = {
        "checksum_bad", "checksum_unverified", "options_cut", "caplen_gt_wirelen",
        "timestamps_backwards", "icmp_unmatched", "unhandled_state_events"};
    for (size_t i = 0; i < sizeof present / sizeof present[0]; i++)
        assert_raw(&o, present[i], "0");
    assert_raw(&o, "damaged", "true");
    assert_str(&o, "damage", "truncated record at byte 1234");
    /* live-only fields are absent from a file's summary */
    assert_int_equal(jobj_count(&o, "capture_dropped"), 0);
    assert_int_equal(jobj_count(&o, "interface_dropped"), 0);
    cap_free(&cp);
}

static void test_summary_live_and_undamaged(void **state)
{
    (void)state;
    struct capture cp;
    struct jobj o;
    struct report_summary s;
    memset(&s, 0, sizeof s);
    s.source = "eth0";
    s.link = "EN10MB";
    s.live_dropped = 5;
    s.live_if_dropped = 6;
    cap_open(&cp, 6, true);
    cp.r->ops->end(cp.r, &s);
    cap_close(&cp);
    assert_int_equal(cp.n_lines, 1);
    line_object(&cp, 0, &o);
    assert_str(&o, "type", "summary");
    assert_raw(&o, "capture_dropped", "5");
    assert_raw(&o, "interface_dropped", "6");
    assert_raw(&o, "damaged", "false");
    assert_int_equal(jobj_count(&o, "damage"), 0);
    assert_raw(&o, "connections", "0");
    cap_free(&cp);
}

static void test_event_line(void **state)
{
    (void)state;
    struct conn c;
    struct capture cp;
    struct jobj o;
    conn_clean_v6(&c);
    cap_open(&cp, 6, true);
    cp.r->ops->event(cp.r, &c, TEV_REFUSED, SB_T0_NS + SB_MS(1), NULL);
    cp.r->ops->event(cp.r, &c, TEV_STALL_START, SB_T0_NS + SB_MS(2), "zero \"window\"");
    cap_close(&cp);
    assert_int_equal(cp.n_lines, 2);
    line_object(&cp, 0, &o);
    assert_str(&o, "type", "event");
    assert_str(&o, "event", "refused");
    assert_raw(&o, "id", "7");
    assert_raw(&o, "time", "1700000000.001000");
    assert_str(&o, "client", "2001:db8::1");
    assert_raw(&o, "client_port", "40002");
    assert_str(&o, "server", "2001:db8::1:0:0:1");
    assert_raw(&o, "server_port", "443");
    assert_raw(&o, "frame", "9");
    assert_str(&o, "detail", "");
    line_object(&cp, 1, &o);
    assert_str(&o, "event", "stall_start");
    assert_str(&o, "detail", "zero \"window\"");
    cap_free(&cp);
}

/* The checker itself: it must reject what is not JSON, or these tests
 * would prove nothing. */
static void test_json_checker(void **state)
{
    (void)state;
    static const char *const good[] = {
        "{}", "{\"a\":1}", "{\"a\":[1,2.5,-3e2,\"x\"],\"b\":{\"c\":null},\"d\":true}",
        " {\"s\":\"q\\\"\\\\\\n\\u0001\"} "};
    static const char *const bad[] = {
        "",        "{",          "{\"a\"}",       "{\"a\":}",    "{\"a\":1,}",
        "{a:1}",   "{\"a\":01}", "{\"a\":1.}",    "{\"a\":nul}", "{\"a\":\"x\ty\"}",
        "{\"a\":1}x", "[1]",     "{\"a\":\"\\q\"}", "{\"a\":1}{}", "{\"a\":\"x}"};
    struct jobj o;
    size_t at;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!json_parse(good[i], strlen(good[i]), &o, &at))
            fail_msg("checker rejected %s at %zu", good[i], at);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (json_parse(bad[i], strlen(bad[i]), &o, &at))
            fail_msg("checker accepted %s", bad[i]);
    assert_true(json_parse(good[2], strlen(good[2]), &o, &at));
    assert_int_equal(o.n, 3);
    assert_int_equal(jobj_count(&o, "b"), 1);
    assert_int_equal(jobj_count(&o, "c"), 0); /* nested keys are not top-level */
}

static void test_reporter_table_and_helpers(void **state)
{
    (void)state;
    const struct reporter_ops *j = reporter_find("json");
    const struct reporter_ops *t = reporter_find("text");
    assert_non_null(j);
    assert_non_null(t);
    assert_ptr_equal(j, &report_json_ops);
    assert_string_equal(j->name, "json");
    assert_string_equal(t->name, "text");
    assert_null(reporter_find("xml"));
    assert_null(reporter_find(""));
    assert_null(reporter_find("JSON"));
    assert_non_null(strstr(reporter_names(), "json"));
    assert_non_null(strstr(reporter_names(), "text"));

    char b[48];
    report_fmt_time(b, sizeof b, 0, 6);
    assert_string_equal(b, "0.000000");
    report_fmt_time(b, sizeof b, -1500000000LL, 6);
    assert_string_equal(b, "-1.500000");
    report_fmt_time(b, sizeof b, 1999999999LL, 6);
    assert_string_equal(b, "1.999999"); /* truncated, never rounded up */
    report_fmt_time(b, sizeof b, 1999999999LL, 9);
    assert_string_equal(b, "1.999999999");
    report_fmt_time(b, sizeof b, INT64_MIN, 9);
    assert_string_equal(b, "-9223372036.854775808");
}

/* report_fmt_addr() writes what ip_addr_format() (inet_ntop) writes: every
 * value in every IPv4 byte position, a spread of whole addresses, IPv6. */
static void test_fmt_addr_matches_inet_ntop(void **state)
{
    (void)state;
    char want[64], got[64];
    struct ip_addr a;
    for (unsigned pos = 0; pos < 4; pos++) {
        for (unsigned v = 0; v < 256; v++) {
            memset(&a, 0, sizeof a);
            memset(a.b, pos == 0 ? 0 : 255, 4);
            a.b[pos] = (uint8_t)v;
            ip_addr_format(&a, 4, want, sizeof want);
            assert_string_equal(report_fmt_addr(&a, 4, got, sizeof got), want);
        }
    }
    uint32_t x = 12345;
    for (int i = 0; i < 100000; i++) {
        x = x * 1103515245u + 12345u;
        memset(&a, 0, sizeof a);
        memcpy(a.b, &x, 4);
        ip_addr_format(&a, 4, want, sizeof want);
        assert_string_equal(report_fmt_addr(&a, 4, got, sizeof got), want);
    }
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
    memcpy(a.b, v6, sizeof v6);
    assert_string_equal(report_fmt_addr(&a, 6, got, sizeof got), "2001:db8::1:0:1");
    assert_string_equal(report_fmt_addr(&a, 0, got, sizeof got), "");
    memset(&a, 0, sizeof a);
    memset(a.b, 255, 4); /* a buffer too short: whatever inet_ntop does */
    ip_addr_format(&a, 4, want, 8);
    assert_string_equal(report_fmt_addr(&a, 4, got, 8), want);
}

/* The reporters write the sentence themselves when the analyzer leaves it
 * out (reason_on_demand): the line is the same either way. */
static void test_reason_on_demand(void **state)
{
    (void)state;
    assert_true(report_json_ops.reason_on_demand);
    assert_true(report_text_ops.reason_on_demand);
    struct conn c;
    struct verdict_info full, lazy;
    struct capture a, b;
    conn_clean_v6(&c);
    c.flags |= CONN_RST;
    c.rst_side = SIDE_SERVER;
    c.rst_phase = PHASE_ESTABLISHED;
    classify_connection(&c, &ccfg, c.last_ns, &full);
    classify_verdict(&c, &ccfg, c.last_ns, &lazy);
    assert_int_equal(full.verdict, VERDICT_RESET);
    assert_string_equal(lazy.reason, "");
    cap_open(&a, 6, false);
    a.r->ops->connection(a.r, &c, &full, END_FINISHED);
    cap_close(&a);
    cap_open(&b, 6, false);
    b.r->ops->connection(b.r, &c, &lazy, END_FINISHED);
    cap_close(&b);
    assert_int_equal(a.n_lines, 1);
    assert_int_equal(b.n_lines, 1);
    assert_string_equal(a.lines[0], b.lines[0]);
    struct jobj o;
    line_object(&b, 0, &o);
    assert_str(&o, "reason", full.reason);
    cap_free(&a);
    cap_free(&b);

    /* The text report: the problem line carries the sentence. */
    char *out[2];
    for (int i = 0; i < 2; i++) {
        size_t len;
        FILE *f = open_memstream(&out[i], &len);
        assert_non_null(f);
        struct reporter_config rc = {.out = f, .ts_digits = 6, .max_problem_lines = 100};
        struct reporter *r = report_text_ops.create(&rc);
        assert_non_null(r);
        r->ops->connection(r, &c, i ? &lazy : &full, END_FINISHED);
        struct report_summary sum;
        memset(&sum, 0, sizeof sum);
        r->ops->end(r, &sum);
        r->ops->destroy(r);
        assert_int_equal(fclose(f), 0);
    }
    assert_non_null(strstr(out[0], full.reason));
    assert_string_equal(out[0], out[1]);
    free(out[0]);
    free(out[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connection_required_fields),
        cmocka_unit_test(test_connection_documented_fields),
        cmocka_unit_test(test_connection_reset),
        cmocka_unit_test(test_connection_stall_and_eviction),
        cmocka_unit_test(test_connection_syn_retries_and_icmp),
        cmocka_unit_test(test_reason_is_escaped),
        cmocka_unit_test(test_ts_digits_9),
        cmocka_unit_test(test_summary_is_last),
        cmocka_unit_test(test_summary_live_and_undamaged),
        cmocka_unit_test(test_event_line),
        cmocka_unit_test(test_reporter_table_and_helpers),
        cmocka_unit_test(test_fmt_addr_matches_inet_ntop),
        cmocka_unit_test(test_reason_on_demand),
        cmocka_unit_test(test_json_checker),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
