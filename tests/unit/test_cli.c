/* SPDX-License-Identifier: MIT */
/*
 * test_cli.c - unit tests for the command-line parser (src/cli.c).
 *
 * Each accepted option is parsed and its effect on struct options checked
 * (values converted to nanoseconds, verdict lists to a bit mask, the BPF
 * filter words joined with spaces). Each kind of bad input -- unknown
 * option, missing value, bad number (not a number, negative, overflowing,
 * trailing garbage, out of range), unknown verdict or format, no input or
 * two inputs, live-only options with a file -- must make cli_parse() return
 * -1 with a one-line message that names the culprit. The error table is
 * data-driven: one argv and one expected fragment of the message per row.
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
#include "cli.h"

#define MAX_ARGS 32
#define ERR_LEN 256

/* argv from a NULL-terminated list of words; "tcptriage" is prepended. */
struct args {
    int argc;
    char *argv[MAX_ARGS + 2];
};

static void args_from(struct args *a, char *const *words)
{
    a->argc = 0;
    a->argv[a->argc++] = (char *)"tcptriage";
    for (size_t i = 0; words[i]; i++) {
        assert_true(a->argc <= MAX_ARGS);
        a->argv[a->argc++] = words[i];
    }
    a->argv[a->argc] = NULL;
}

/* Parses the words; returns cli_parse()'s status. */
static int parse_words(struct options *o, char *err, char *const *words)
{
    struct args a;
    args_from(&a, words);
    err[0] = '\0';
    return cli_parse(a.argc, a.argv, o, err, ERR_LEN);
}

#define WORDS(...) ((char *const[]){__VA_ARGS__, NULL})

/* Parse that must succeed. */
#define PARSE_OK(o, ...)                                                         \
    do {                                                                         \
        char err_[ERR_LEN];                                                      \
        int rc_ = parse_words((o), err_, WORDS(__VA_ARGS__));                    \
        if (rc_ != 0)                                                            \
            fail_msg("cli_parse failed (%d): %s", rc_, err_);                    \
    } while (0)

/* ---------------------------------------------------------------------------
 * Accepted options
 */

static void test_defaults(void **state)
{
    (void)state;
    struct options o;
    PARSE_OK(&o, "-r", "in.pcap");
    assert_string_equal(o.read_path, "in.pcap");
    assert_null(o.iface);
    assert_string_equal(o.format, "text");
    assert_non_null(o.filter);
    assert_string_equal(o.filter, "");
    assert_int_equal(o.analyzer.fail_on, 0);
    assert_int_equal(o.analyzer.tracker.attempt_timeout_ns, 3000000000LL);
    assert_int_equal(o.analyzer.tracker.stall_threshold_ns, 1000000000LL);
    assert_int_equal(o.analyzer.tracker.linger_ns, 4000000000LL);
    assert_int_equal(o.analyzer.tracker.max_connections, 1000000);
    assert_int_equal(o.analyzer.tracker.max_handshakes, 100000);
    assert_true(o.analyzer.decode.verify_checksums);
    assert_int_equal(o.max_report_lines, 10000);
    assert_true(o.interval_s < 0);
    assert_int_equal(o.snaplen, 0);
    assert_int_equal(o.count, 0);
    assert_false(o.no_promisc);
    assert_false(o.help);
    assert_false(o.version);
    cli_free(&o);
    assert_null(o.filter);
}

static void test_format(void **state)
{
    (void)state;
    struct options o;
    PARSE_OK(&o, "-r", "in.pcap", "--format", "json");
    assert_string_equal(o.format, "json");
    cli_free(&o);
    PARSE_OK(&o, "--format=text", "--read=in.pcap");
    assert_string_equal(o.format, "text");
    assert_string_equal(o.read_path, "in.pcap");
    cli_free(&o);
}

static void test_fail_on(void **state)
{
    (void)state;
    struct options o;
    PARSE_OK(&o, "-r", "in.pcap", "--fail-on", "reset,refused");
    assert_int_equal(o.analyzer.fail_on, (1u << VERDICT_RESET) | (1u << VERDICT_REFUSED));
    cli_free(&o);
    /* repeated options add up */
    PARSE_OK(&o, "-r", "in.pcap", "--fail-on", "timed_out", "--fail-on=half_closed");
    assert_int_equal(o.analyzer.fail_on,
                     (1u << VERDICT_TIMED_OUT) | (1u << VERDICT_HALF_CLOSED));
    cli_free(&o);
    PARSE_OK(&o, "-r", "in.pcap", "--fail-on",
             "refused,timed_out,unanswered,half_open,reset,closed,stalled,half_closed,open");
    assert_int_equal(o.analyzer.fail_on, (1u << VERDICT__COUNT) - 1);
    cli_free(&o);
}

static void test_analysis_numbers(void **state)
{
    (void)state;
    struct options o;
    PARSE_OK(&o, "-r", "in.pcap", "--attempt-timeout", "2.5", "--stall-threshold", "0.25",
             "--linger", "0", "--max-connections", "5", "--max-report-lines", "0",
             "--no-checksums", "-c", "10", "--interval", "0", "--max-handshakes", "3");
    assert_int_equal(o.analyzer.tracker.attempt_timeout_ns, 2500000000LL);
    assert_int_equal(o.analyzer.tracker.stall_threshold_ns, 250000000LL);
    assert_int_equal(o.analyzer.tracker.linger_ns, 0);
    assert_int_equal(o.analyzer.tracker.max_connections, 5);
    assert_int_equal(o.analyzer.tracker.max_handshakes, 3);
    assert_int_equal(o.max_report_lines, 0);
    assert_false(o.analyzer.decode.verify_checksums);
    assert_int_equal(o.count, 10);
    assert_true(o.interval_s == 0.0);
    cli_free(&o);
    /* exact conversions of decimal seconds */
    PARSE_OK(&o, "-r", "in.pcap", "--attempt-timeout", "0.001", "--linger", "1.5",
             "--stall-threshold", "86400");
    assert_int_equal(o.analyzer.tracker.attempt_timeout_ns, 1000000LL);
    assert_int_equal(o.analyzer.tracker.linger_ns, 1500000000LL);
    assert_int_equal(o.analyzer.tracker.stall_threshold_ns, 86400000000000LL);
    cli_free(&o);
}

static void test_live_options(void **state)
{
    (void)state;
    struct options o;
    PARSE_OK(&o, "-i", "eth0", "-s", "1500", "-p", "-Z", "nobody", "-w", "out.pcap",
             "--duration", "10", "--interval", "5", "tcp", "port", "80");
    assert_string_equal(o.iface, "eth0");
    assert_null(o.read_path);
    assert_int_equal(o.snaplen, 1500);
    assert_true(o.no_promisc);
    assert_string_equal(o.user, "nobody");
    assert_string_equal(o.write_path, "out.pcap");
    assert_true(o.duration_s == 10.0);
    assert_true(o.interval_s == 5.0);
    assert_string_equal(o.filter, "tcp port 80");
    cli_free(&o);
}

static void test_filter_joined(void **state)
{
    (void)state;
    struct options o;
    PARSE_OK(&o, "-r", "in.pcap", "tcp", "and", "port", "443", "and", "not", "host",
             "10.0.0.1");
    assert_string_equal(o.filter, "tcp and port 443 and not host 10.0.0.1");
    cli_free(&o);
    /* one quoted argument is kept as it is */
    PARSE_OK(&o, "-r", "in.pcap", "tcp port 80 or tcp port 443");
    assert_string_equal(o.filter, "tcp port 80 or tcp port 443");
    cli_free(&o);
    /* "--" ends the options */
    PARSE_OK(&o, "-r", "in.pcap", "--", "tcp", "port", "22");
    assert_string_equal(o.filter, "tcp port 22");
    cli_free(&o);
}

static void test_help_and_version(void **state)
{
    (void)state;
    struct options o;
    PARSE_OK(&o, "-h");
    assert_true(o.help);
    cli_free(&o);
    PARSE_OK(&o, "--help");
    assert_true(o.help);
    cli_free(&o);
    PARSE_OK(&o, "--version");
    assert_true(o.version);
    assert_false(o.help);
    cli_free(&o);
}

static void test_usage_mentions_options(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    cli_usage(f);
    assert_int_equal(fclose(f), 0);
    static const char *const opts[] = {"-r FILE", "-i IFACE", "--format", "--fail-on",
                                       "--attempt-timeout", "--stall-threshold", "--linger",
                                       "--max-connections", "--max-handshakes",
                                       "--max-report-lines",
                                       "--no-checksums", "--duration", "--interval", "-Z",
                                       "-w", "-s", "-c"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strstr(buf, opts[i]))
            fail_msg("usage does not mention %s", opts[i]);
    free(buf);
}

/* A parse that stopped early (-h) must not leak into the next parse: the
 * "p" left over from "-hp" is not an option of the second command line. */
static void test_reparse_is_independent(void **state)
{
    (void)state;
    struct options o;
    PARSE_OK(&o, "-hp");
    assert_true(o.help);
    cli_free(&o);
    PARSE_OK(&o, "-r", "in.pcap");
    assert_false(o.no_promisc);
    assert_false(o.help);
    assert_string_equal(o.read_path, "in.pcap");
    cli_free(&o);
}

/* ---------------------------------------------------------------------------
 * Errors
 */
struct bad_case {
    const char *name;
    char *words[10];
    const char *err_has; /* a fragment the message must contain */
};

static const struct bad_case bad_cases[] = {
    {"fail_on_unknown_verdict", {"-r", "in.pcap", "--fail-on", "reset,bogus"}, "'bogus'"},
    {"fail_on_empty", {"-r", "in.pcap", "--fail-on", ""}, "--fail-on"},
    {"fail_on_only_commas", {"-r", "in.pcap", "--fail-on", ",,"}, "--fail-on"},
    {"fail_on_wrong_case", {"-r", "in.pcap", "--fail-on", "Reset"}, "'Reset'"},
    {"timeout_not_a_number", {"-r", "in.pcap", "--attempt-timeout", "abc"}, "'abc'"},
    {"timeout_negative", {"-r", "in.pcap", "--attempt-timeout", "-1"}, "'-1'"},
    {"timeout_overflow", {"-r", "in.pcap", "--attempt-timeout", "1e999"}, "'1e999'"},
    {"timeout_trailing_garbage", {"-r", "in.pcap", "--attempt-timeout", "3x"}, "'3x'"},
    {"timeout_empty", {"-r", "in.pcap", "--attempt-timeout", ""}, "--attempt-timeout"},
    {"timeout_nan", {"-r", "in.pcap", "--attempt-timeout", "nan"}, "'nan'"},
    {"timeout_inf", {"-r", "in.pcap", "--attempt-timeout", "inf"}, "'inf'"},
    {"timeout_zero", {"-r", "in.pcap", "--attempt-timeout", "0"}, "'0'"},
    {"timeout_too_long", {"-r", "in.pcap", "--attempt-timeout", "86401"}, "'86401'"},
    {"stall_threshold_bad", {"-r", "in.pcap", "--stall-threshold", "1s"}, "'1s'"},
    {"linger_negative", {"-r", "in.pcap", "--linger", "-0.5"}, "'-0.5'"},
    {"max_connections_negative", {"-r", "in.pcap", "--max-connections", "-1"}, "'-1'"},
    {"max_connections_garbage", {"-r", "in.pcap", "--max-connections", "3x"}, "'3x'"},
    {"max_connections_zero", {"-r", "in.pcap", "--max-connections", "0"}, "'0'"},
    {"max_connections_float", {"-r", "in.pcap", "--max-connections", "1e3"}, "'1e3'"},
    {"max_connections_overflow",
     {"-r", "in.pcap", "--max-connections", "99999999999999999999999"},
     "'99999999999999999999999'"},
    {"max_handshakes_zero", {"-r", "in.pcap", "--max-handshakes", "0"}, "'0'"},
    {"max_handshakes_garbage", {"-r", "in.pcap", "--max-handshakes", "10k"}, "'10k'"},
    {"max_report_lines_abc", {"-r", "in.pcap", "--max-report-lines", "abc"}, "'abc'"},
    {"count_zero", {"-r", "in.pcap", "-c", "0"}, "'0'"},
    {"count_plus", {"-r", "in.pcap", "-c", "+5"}, "'+5'"},
    {"snaplen_too_small", {"-i", "eth0", "-s", "10"}, "'10'"},
    {"duration_bad", {"-i", "eth0", "--duration", "forever"}, "'forever'"},
    {"interval_negative", {"-i", "eth0", "--interval", "-2"}, "'-2'"},
    {"unknown_format", {"-r", "in.pcap", "--format", "xml"}, "'xml'"},
    {"no_input", {"--format", "json"}, "-r"},
    {"no_input_at_all", {NULL}, "-r"},
    {"both_inputs", {"-r", "in.pcap", "-i", "eth0"}, "not both"},
    {"unknown_long_option", {"-r", "in.pcap", "--bogus"}, "--bogus"},
    {"unknown_short_option", {"-r", "in.pcap", "-x"}, "-x"},
    {"missing_value_short", {"-r"}, "-r"},
    {"missing_value_long", {"-r", "in.pcap", "--format"}, "--format"},
    {"live_option_with_file_user", {"-r", "in.pcap", "-Z", "nobody"}, "-Z"},
    {"live_option_with_file_snaplen", {"-r", "in.pcap", "-s", "100"}, "-s"},
    {"live_option_with_file_duration", {"-r", "in.pcap", "--duration", "5"}, "--duration"},
    {"live_option_with_file_write", {"-r", "in.pcap", "-w", "out.pcap"}, "-w"},
};

#define N_BAD (sizeof bad_cases / sizeof bad_cases[0])

static void run_bad_case(void **state)
{
    const struct bad_case *bc = *state;
    struct options o;
    char err[ERR_LEN];
    memset(err, 0, sizeof err);
    int rc = parse_words(&o, err, bc->words);
    cli_free(&o);
    if (rc != -1)
        fail_msg("cli_parse returned %d, expected -1", rc);
    assert_true(err[0] != '\0');
    assert_null(strchr(err, '\n'));
    if (!strstr(err, bc->err_has))
        fail_msg("message \"%s\" does not contain \"%s\"", err, bc->err_has);
}

/* A short message buffer: truncated, still terminated. */
static void test_error_short_buffer(void **state)
{
    (void)state;
    struct options o;
    char err[12];
    memset(err, 'z', sizeof err);
    struct args a;
    args_from(&a, WORDS("-r", "in.pcap", "--fail-on", "nonsense"));
    assert_int_equal(cli_parse(a.argc, a.argv, &o, err, sizeof err), -1);
    assert_true(memchr(err, '\0', sizeof err) != NULL);
    assert_true(strlen(err) > 0);
    cli_free(&o);
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_fail_on),
        cmocka_unit_test(test_analysis_numbers),
        cmocka_unit_test(test_live_options),
        cmocka_unit_test(test_filter_joined),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_usage_mentions_options),
        cmocka_unit_test(test_reparse_is_independent),
        cmocka_unit_test(test_error_short_buffer),
    };
    const size_t n_fixed = sizeof fixed / sizeof fixed[0];
    struct CMUnitTest tests[N_BAD + sizeof fixed / sizeof fixed[0]];
    for (size_t i = 0; i < n_fixed; i++)
        tests[i] = fixed[i];
    for (size_t i = 0; i < N_BAD; i++) {
        memset(&tests[n_fixed + i], 0, sizeof tests[n_fixed + i]);
        tests[n_fixed + i].name = bad_cases[i].name;
        tests[n_fixed + i].test_func = run_bad_case;
        tests[n_fixed + i].initial_state = (void *)(uintptr_t)&bad_cases[i];
    }
    return _cmocka_run_group_tests("cli", tests, n_fixed + N_BAD, NULL, NULL);
}
