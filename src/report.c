/* SPDX-License-Identifier: MIT */
/*
 * report.c - the reporter table and what the reporters share: time
 * formatting, JSON string escaping, and the "what to check next" table.
 *
 * The checks follow the usual Linux failure tables for TCP (ss(8), nstat,
 * sysctl names from Documentation/networking/ip-sysctl.rst).
 */
#include "report.h"

#include <string.h>

static const struct reporter_ops *const reporters[] = {&report_text_ops, &report_json_ops};

const struct reporter_ops *reporter_find(const char *name)
{
    for (size_t i = 0; i < sizeof reporters / sizeof reporters[0]; i++)
        if (strcmp(reporters[i]->name, name) == 0)
            return reporters[i];
    return NULL;
}

const char *reporter_names(void)
{
    return "text, json";
}

char *report_fmt_addr(const struct ip_addr *a, int ip_version, char *buf, size_t len)
{
    if (ip_version != 4 || len < 16) /* 16: "255.255.255.255" and its NUL */
        return ip_addr_format(a, ip_version, buf, len);
    char *p = buf;
    for (int i = 0; i < 4; i++) {
        unsigned v = a->b[i];
        if (i)
            *p++ = '.';
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
    }
    *p = '\0';
    return buf;
}

void report_fmt_time(char *buf, size_t len, int64_t ns, int digits)
{
    const char *sign = "";
    uint64_t u = (uint64_t)ns;
    if (ns < 0) {
        sign = "-";
        u = 0 - (uint64_t)ns;
    }
    uint64_t sec = u / 1000000000u, frac = u % 1000000000u;
    if (digits == 9)
        snprintf(buf, len, "%s%llu.%09llu", sign, (unsigned long long)sec,
                 (unsigned long long)frac);
    else
        snprintf(buf, len, "%s%llu.%06llu", sign, (unsigned long long)sec,
                 (unsigned long long)(frac / 1000u));
}

void report_json_escape(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
}

static const char *const checks_refused[] = {
    "ss -ltnp 'sport = :PORT'   # on the server: is anything listening on the port?",
    "nft list ruleset; iptables -S   # on the server and firewalls: REJECT rules for the port",
    NULL};
static const char *const checks_timed_out[] = {
    "traceroute -T -p PORT SERVER   # from the client: where do SYNs stop?",
    "nft list ruleset; iptables -S   # firewalls on the path: DROP rules for the port",
    "nstat -az TcpExtListenOverflows TcpExtListenDrops   # on the server: full accept queue",
    "ss -ltn 'sport = :PORT'   # on the server: Recv-Q vs the backlog (Send-Q)",
    NULL};
static const char *const checks_half_open[] = {
    "ss -tn state syn-recv 'sport = :PORT'   # on the server: embryonic connections",
    "sysctl net.ipv4.tcp_syncookies net.ipv4.tcp_max_syn_backlog net.core.somaxconn",
    "netstat -s | grep -i listen   # on the server: SYNs to LISTEN sockets dropped",
    NULL};
static const char *const checks_reset[] = {
    "nstat -az TcpExtTCPAbortOnData TcpExtTCPAbortOnClose TcpExtTCPAbortOnTimeout   # on the "
    "side that reset",
    "ss -ti dst PEER   # on the side that reset: retransmissions, rto, unacked",
    "conntrack -L; check idle timeouts of load balancers and firewalls on the path",
    NULL};
static const char *const checks_zero_window[] = {
    "ss -tmi dst PEER   # on the receiver: Recv-Q stays full, the application does not read",
    "sysctl net.ipv4.tcp_rmem net.core.rmem_max   # receive buffer sizes",
    NULL};
static const char *const checks_unacked[] = {
    "ss -ti dst PEER   # on the sender: retrans, rto, backoff",
    "nstat -az TcpRetransSegs TcpExtTCPTimeouts   # on the sender",
    "ip route get PEER; tracepath PEER   # path MTU black hole?",
    NULL};
static const char *const checks_window_full[] = {
    "ss -tmi dst PEER   # on the receiver: rcv_space, Recv-Q",
    "sysctl net.ipv4.tcp_rmem net.core.rmem_max net.ipv4.tcp_window_scaling",
    NULL};
static const char *const checks_half_closed[] = {
    "ss -tan state close-wait   # on the side that stayed open: sockets the application never "
    "closed",
    "lsof -p PID | grep -c TCP   # that application's open sockets",
    "sysctl net.ipv4.tcp_fin_timeout   # on the side that closed: FIN_WAIT_2 lifetime",
    NULL};
static const char *const checks_none[] = {NULL};

const char *const *report_checks_for(enum verdict v, enum stall_kind k)
{
    switch (v) {
    case VERDICT_REFUSED:
        return checks_refused;
    case VERDICT_TIMED_OUT:
    case VERDICT_UNANSWERED:
        return checks_timed_out;
    case VERDICT_HALF_OPEN:
        return checks_half_open;
    case VERDICT_RESET:
        return checks_reset;
    case VERDICT_STALLED:
        if (k == STALL_ZERO_WINDOW)
            return checks_zero_window;
        if (k == STALL_WINDOW_FULL)
            return checks_window_full;
        return checks_unacked;
    case VERDICT_HALF_CLOSED:
        return checks_half_closed;
    default:
        return checks_none;
    }
}
