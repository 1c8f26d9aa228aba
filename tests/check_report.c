/* The harness's pure parts: reporters (human, TAP, JUnit, JSON) on
 * synthetic results, the result serialisers (JSON, Nagios, Prometheus),
 * the runner's expectation diffs, and the command-line parsers (--auth
 * lists, host maps, password files, the option scanner, the options check
 * and roundtrip share). URLs and
 * host:port are tested in check_target.c. */
#include "harness/report/report.h"
#include "harness/config/secret.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli/args.h"
#include "harness/cli/probe_opts.h"
#include "harness/case/case.h"
#include "harness/report/json.h"
#include "harness/report/range.h"
#include "harness/report/result_json.h"
#include "harness/run/runner.h"
#include "probes/probe.h"
#include "probes/result.h"
#include "probes/target.h"
#include "wire/errors.h"
#include "wire/sasl.h"

/* ------------------------------------------------------------------ */
/* A strict JSON checker (RFC 8259), so "valid JSON" is tested, not
 * assumed. Returns the end of the value or NULL. */

static const char *j_value(const char *p, int depth);

static const char *j_ws(const char *p)
{
  while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
    p++;
  return p;
}

static const char *j_string(const char *p)
{
  uint32_t cp;
  size_t n;
  int i;

  if (*p != '"')
    return NULL;
  p++;
  while (*p != '"') {
    unsigned char c = (unsigned char)*p;

    if (c == '\0' || c < 0x20)
      return NULL;
    if (c == '\\') {
      p++;
      if (*p && strchr("\"\\/bfnrt", *p)) {
        p++;
      } else if (*p == 'u') {
        p++;
        for (i = 0; i < 4; i++, p++)
          if (!*p || !strchr("0123456789abcdefABCDEF", *p))
            return NULL;
      } else {
        return NULL;
      }
    } else if (c >= 0x80) {
      n = mp_utf8_decode((const unsigned char *)p, strlen(p), &cp);
      if (!n)
        return NULL;
      p += n;
    } else {
      p++;
    }
  }
  return p + 1;
}

static const char *j_number(const char *p)
{
  const char *s;

  if (*p == '-')
    p++;
  if (*p == '0')
    p++;
  else if (*p >= '1' && *p <= '9')
    while (*p >= '0' && *p <= '9')
      p++;
  else
    return NULL;
  if (*p == '.') {
    s = ++p;
    while (*p >= '0' && *p <= '9')
      p++;
    if (p == s)
      return NULL;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-')
      p++;
    s = p;
    while (*p >= '0' && *p <= '9')
      p++;
    if (p == s)
      return NULL;
  }
  return p;
}

static const char *j_value(const char *p, int depth)
{
  if (depth > 64)
    return NULL;
  p = j_ws(p);
  if (*p == '{' || *p == '[') {
    char close = *p == '{' ? '}' : ']';
    int obj = *p == '{';

    p = j_ws(p + 1);
    if (*p == close)
      return p + 1;
    for (;;) {
      if (obj) {
        p = j_string(j_ws(p));
        if (!p)
          return NULL;
        p = j_ws(p);
        if (*p != ':')
          return NULL;
        p++;
      }
      p = j_value(p, depth + 1);
      if (!p)
        return NULL;
      p = j_ws(p);
      if (*p == ',') {
        p++;
        continue;
      }
      if (*p == close)
        return p + 1;
      return NULL;
    }
  }
  if (*p == '"')
    return j_string(p);
  if (strncmp(p, "true", 4) == 0)
    return p + 4;
  if (strncmp(p, "false", 5) == 0)
    return p + 5;
  if (strncmp(p, "null", 4) == 0)
    return p + 4;
  return j_number(p);
}

static int json_valid(const char *s)
{
  const char *end = j_value(s, 0);

  return end && *j_ws(end) == '\0';
}

/* ------------------------------------------------------------------ */
/* A small XML well-formedness checker: balanced tags, quoted attributes,
 * only the five entities and character references, no raw '<' or '&' in
 * text, no control characters, valid UTF-8. */

static int xml_name(const char **pp, char *out, size_t len)
{
  const char *p = *pp;
  size_t n = 0;

  if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))
    return -1;
  while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
         (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.') {
    if (n + 1 < len)
      out[n++] = *p;
    p++;
  }
  out[n] = '\0';
  *pp = p;
  return 0;
}

static int xml_char(const char **pp, int in_attr)
{
  const unsigned char *p = (const unsigned char *)*pp;
  uint32_t cp;
  size_t n;

  if (*p == '&') {
    static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;",
                                       "&apos;"};
    size_t i;

    for (i = 0; i < 5; i++) {
      if (strncmp((const char *)p, ents[i], strlen(ents[i])) == 0) {
        *pp += strlen(ents[i]);
        return 0;
      }
    }
    if (p[1] == '#') {
      p += 2;
      if (*p < '0' || *p > '9')
        return -1;
      while (*p >= '0' && *p <= '9')
        p++;
      if (*p != ';')
        return -1;
      *pp = (const char *)p + 1;
      return 0;
    }
    return -1;
  }
  if (*p == '<' || (in_attr && *p == '"'))
    return -1;
  if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
    return -1;
  if (*p < 0x80) {
    *pp += 1;
    return 0;
  }
  n = mp_utf8_decode(p, strlen((const char *)p), &cp);
  if (!n || cp == 0xfffe || cp == 0xffff)
    return -1;
  *pp += n;
  return 0;
}

static int xml_wellformed(const char *s)
{
  char stack[16][64], name[64], attrs[16][64];
  int depth = 0, roots = 0, nattrs, i;
  const char *p = s;

  if (strncmp(p, "<?xml", 5) == 0) {
    p = strstr(p, "?>");
    if (!p)
      return 0;
    p += 2;
  }
  while (*p) {
    if (*p != '<') {
      if (depth == 0 && !(*p == ' ' || *p == '\n' || *p == '\t'))
        return 0;
      if (xml_char(&p, 0) < 0)
        return 0;
      continue;
    }
    p++;
    if (*p == '/') {
      p++;
      if (xml_name(&p, name, sizeof(name)) < 0 || *p != '>' || depth == 0 ||
          strcmp(stack[depth - 1], name) != 0)
        return 0;
      depth--;
      p++;
      continue;
    }
    if (xml_name(&p, name, sizeof(name)) < 0)
      return 0;
    nattrs = 0;
    for (;;) {
      const char *q = p;

      while (*p == ' ' || *p == '\n' || *p == '\t')
        p++;
      if (*p == '/' && p[1] == '>') {
        p += 2;
        if (depth == 0)
          roots++;
        break;
      }
      if (*p == '>') {
        p++;
        if (depth == 0)
          roots++;
        if (depth == 16)
          return 0;
        snprintf(stack[depth++], sizeof(stack[0]), "%s", name);
        break;
      }
      if (p == q || nattrs == 16)
        return 0; /* attributes are separated by white space */
      if (xml_name(&p, attrs[nattrs], sizeof(attrs[0])) < 0)
        return 0;
      for (i = 0; i < nattrs; i++)
        if (strcmp(attrs[i], attrs[nattrs]) == 0)
          return 0;
      nattrs++;
      if (*p++ != '=' || *p++ != '"')
        return 0;
      while (*p != '"') {
        if (!*p || xml_char(&p, 1) < 0)
          return 0;
      }
      p++;
    }
  }
  return depth == 0 && roots == 1;
}

/* ------------------------------------------------------------------ */
/* Synthetic results and outcomes. */

static struct mp_result *result_ok(void)
{
  struct mp_result *r = mp_result_new();

  ck_assert_ptr_nonnull(r);
  r->ok = 1;
  r->phase = MP_PHASE_QUIT;
  r->timings_us[MP_PHASE_CONNECT] = 1000;
  r->timings_us[MP_PHASE_BANNER] = 2000;
  r->timings_us[MP_PHASE_EHLO] = 500;
  r->timings_us[MP_PHASE_TLS] = 4500;
  r->timings_us[MP_PHASE_AUTH] = 3000;
  r->timings_us[MP_PHASE_QUIT] = 1000;
  r->total_us = 12000;
  r->tls_used = 1;
  snprintf(r->tls.version, sizeof(r->tls.version), "TLSv1.3");
  snprintf(r->tls.cipher, sizeof(r->tls.cipher), "TLS_AES_256_GCM_SHA384");
  snprintf(r->tls.subject, sizeof(r->tls.subject), "CN=mx.example.test");
  snprintf(r->tls.issuer, sizeof(r->tls.issuer), "CN=mailprobe test CA");
  r->tls.days_left = 80;
  r->tls.not_after = 1900000000;
  r->tls.verified = 1;
  r->auth = "CRAM-MD5";
  snprintf(r->address, sizeof(r->address), "127.0.0.1:25");
  mp_result_set_reply(r, 221, "2.0.0 Bye");
  mp_result_add_line(r, 's', 100, "220 mx.example.test ESMTP", 25);
  mp_result_add_line(r, 'c', 200, "EHLO mailprobe.invalid", 22);
  mp_result_add_line(r, '*', 300, "TLS handshake done", 18);
  return r;
}

static struct mp_result *result_timeout(void)
{
  struct mp_result *r = mp_result_new();

  ck_assert_ptr_nonnull(r);
  r->ok = 0;
  r->err = MP_E_TIMEOUT;
  r->phase = MP_PHASE_BANNER;
  r->timings_us[MP_PHASE_CONNECT] = 800;
  r->total_us = 10000000;
  snprintf(r->address, sizeof(r->address), "127.0.0.1:2525");
  mp_result_set_detail(r, "no greeting | within 10s\nat all");
  return r;
}

static char *diffs_a[] = {"error: expected timeout, got connection_closed",
                          "phase: expected banner, got <connect> & \"x\""};
static char *diffs_parse[] = {"cases/bad.yaml:3:7: unknown key 'sever'"};

struct fixture {
  struct mp_result *ok, *fail;
  struct mp_outcome o[3];
};

static void fixture_init(struct fixture *f)
{
  memset(f, 0, sizeof(*f));
  f->ok = result_ok();
  f->fail = result_timeout();
  f->o[0] = (struct mp_outcome){.file = "cases/smtp/slow_banner.yaml",
                                .name = "slow banner",
                                .passed = 1,
                                .seconds = 1.02,
                                .result = f->ok};
  f->o[1] = (struct mp_outcome){.file = "cases/smtp/drop.yaml",
                                .name = "drop # after <EHLO> & \"quotes\"",
                                .passed = 0,
                                .seconds = 0.5,
                                .diffs = diffs_a,
                                .ndiffs = 2,
                                .result = f->fail};
  f->o[2] = (struct mp_outcome){.file = "cases/bad.yaml",
                                .name = NULL,
                                .passed = 0,
                                .error = 1,
                                .seconds = 0.0,
                                .diffs = diffs_parse,
                                .ndiffs = 1,
                                .result = NULL};
}

static void fixture_free(struct fixture *f)
{
  mp_result_free(f->ok);
  mp_result_free(f->fail);
}

/* Runs a reporter over the fixture into a string. */
static char *report(struct fixture *f, enum mp_report_format fmt, int color,
                    size_t *failed)
{
  struct mp_report_opts opts = {.format = fmt, .color = color};
  struct mp_reporter *rep;
  char *buf = NULL;
  size_t len = 0, i;
  FILE *out = open_memstream(&buf, &len);

  ck_assert_ptr_nonnull(out);
  rep = mp_reporter_new(out, 3, &opts);
  ck_assert_ptr_nonnull(rep);
  for (i = 0; i < 3; i++)
    mp_reporter_case(rep, &f->o[i]);
  *failed = mp_reporter_end(rep);
  fclose(out);
  return buf;
}

static const char *last_line(const char *s)
{
  size_t n = strlen(s);

  ck_assert(n > 0 && s[n - 1] == '\n');
  n--;
  while (n > 0 && s[n - 1] != '\n')
    n--;
  return s + n;
}

static size_t count_lines_starting(const char *s, const char *prefix)
{
  size_t n = 0;
  const char *p = s;

  while (p && *p) {
    if (strncmp(p, prefix, strlen(prefix)) == 0)
      n++;
    p = strchr(p, '\n');
    if (p)
      p++;
  }
  return n;
}

START_TEST(test_human)
{
  struct fixture f;
  size_t failed;
  char *out;

  fixture_init(&f);
  out = report(&f, MP_REPORT_HUMAN, 0, &failed);
  ck_assert_uint_eq(failed, 2);
  ck_assert_str_eq(last_line(out), "1 passed, 2 failed\n");
  ck_assert_ptr_nonnull(
      strstr(out, "PASS  1.02s  cases/smtp/slow_banner.yaml  slow banner\n"));
  ck_assert_ptr_nonnull(strstr(out, "FAIL  0.50s  cases/smtp/drop.yaml  "));
  ck_assert_ptr_nonnull(strstr(out, "FAIL  0.00s  cases/bad.yaml\n"));
  ck_assert_ptr_nonnull(
      strstr(out, "  error: expected timeout, got connection_closed\n"));
  ck_assert_ptr_nonnull(
      strstr(out, "  cases/bad.yaml:3:7: unknown key 'sever'\n"));
  /* The probe's detail, with its newline shown, not obeyed. */
  ck_assert_ptr_nonnull(strstr(out, "timeout in banner after 10.000s"));
  ck_assert_ptr_nonnull(strstr(out, "within 10s\\x0aat all"));
  ck_assert_ptr_null(strchr(out, '\033'));
  /* Pass lines come before the failure details. */
  ck_assert(strstr(out, "PASS") < strstr(out, "--- FAIL"));
  free(out);

  out = report(&f, MP_REPORT_HUMAN, 1, &failed);
  ck_assert_ptr_nonnull(strchr(out, '\033'));
  ck_assert_ptr_nonnull(strstr(out, "1 passed, 2 failed"));
  free(out);
  fixture_free(&f);
}
END_TEST

START_TEST(test_human_all_pass_and_transcript_tail)
{
  struct mp_report_opts opts = {.format = MP_REPORT_HUMAN, .tail = 3};
  struct mp_result *r = mp_result_new();
  struct mp_outcome o = {
      .file = "a.yaml", .name = "a", .passed = 0, .result = r};
  struct mp_outcome p = {.file = "b.yaml", .name = "b", .passed = 1};
  struct mp_reporter *rep;
  char *buf = NULL, line[32];
  size_t len = 0, i;
  FILE *out = open_memstream(&buf, &len);

  for (i = 0; i < 10; i++) {
    snprintf(line, sizeof(line), "line %zu", i);
    mp_result_add_line(r, i % 2 ? 'c' : 's', i * 1000, line, strlen(line));
  }
  rep = mp_reporter_new(out, 2, &opts);
  mp_reporter_case(rep, &p);
  mp_reporter_case(rep, &o);
  ck_assert_uint_eq(mp_reporter_end(rep), 1);
  fclose(out);
  ck_assert_ptr_nonnull(strstr(buf, "transcript (last 3 of 10 lines):"));
  ck_assert_ptr_null(strstr(buf, "line 6"));
  ck_assert_ptr_nonnull(strstr(buf, "C: line 7\n"));
  ck_assert_ptr_nonnull(strstr(buf, "S: line 8\n"));
  ck_assert_ptr_nonnull(strstr(buf, "C: line 9\n"));
  ck_assert_str_eq(last_line(buf), "1 passed, 1 failed\n");
  free(buf);

  /* Everything passed: no failure section, just the closing line. */
  buf = NULL;
  out = open_memstream(&buf, &len);
  rep = mp_reporter_new(out, 1, &opts);
  mp_reporter_case(rep, &p);
  ck_assert_uint_eq(mp_reporter_end(rep), 0);
  fclose(out);
  ck_assert_str_eq(buf, "PASS  0.00s  b.yaml  b\n1 passed, 0 failed\n");
  free(buf);
  mp_result_free(r);
}
END_TEST

START_TEST(test_tap)
{
  struct fixture f;
  size_t failed;
  char *out;

  fixture_init(&f);
  out = report(&f, MP_REPORT_TAP, 0, &failed);
  ck_assert_uint_eq(failed, 2);
  ck_assert(strncmp(out, "TAP version 13\n1..3\n", 20) == 0);
  ck_assert_uint_eq(count_lines_starting(out, "ok "), 1);
  ck_assert_uint_eq(count_lines_starting(out, "not ok "), 2);
  ck_assert_ptr_nonnull(strstr(out, "\nok 1 - slow banner\n"));
  /* '#' would start a directive: escaped. */
  ck_assert_ptr_nonnull(
      strstr(out, "\nnot ok 2 - drop \\# after <EHLO> & \"quotes\"\n"));
  ck_assert_ptr_nonnull(strstr(out, "\nnot ok 3 - cases/bad.yaml\n"));
  /* A YAML block per failure. */
  ck_assert_uint_eq(count_lines_starting(out, "  ---"), 2);
  ck_assert_uint_eq(count_lines_starting(out, "  ...\n"), 2);
  /* TAP::Parser (prove) takes `- "phase: ..."` for a map: the ':' before
   * the first space is \x3a, which YAML and TAP::Parser both read. */
  ck_assert_ptr_nonnull(strstr(
      out,
      "    - \"phase\\x3a expected banner, got <connect> & \\\"x\\\"\"\n"));
  ck_assert_ptr_nonnull(strstr(
      out, "    - \"cases/bad.yaml\\x3a3\\x3a7\\x3a unknown key 'sever'\"\n"));
  ck_assert_ptr_nonnull(strstr(out, "  file: \"cases/smtp/drop.yaml\"\n"));
  free(out);
  fixture_free(&f);
}
END_TEST

START_TEST(test_junit)
{
  struct fixture f;
  size_t failed;
  char *out;

  fixture_init(&f);
  out = report(&f, MP_REPORT_JUNIT, 0, &failed);
  ck_assert_uint_eq(failed, 2);
  ck_assert_msg(xml_wellformed(out), "not well-formed:\n%s", out);
  /* The case file that did not parse is an error, not a failure. */
  ck_assert_ptr_nonnull(strstr(out, "tests=\"3\" failures=\"1\" errors=\"1\""));
  ck_assert_ptr_nonnull(strstr(out, "<error message=\"cases/bad.yaml:3:7:"));
  ck_assert_ptr_null(strstr(out, " file=\""));
  ck_assert_ptr_nonnull(strstr(out, "classname=\"cases.smtp\""));
  ck_assert_ptr_nonnull(strstr(out, "classname=\"cases\""));
  ck_assert_ptr_nonnull(strstr(
      out, "name=\"drop # after &lt;EHLO&gt; &amp; &quot;quotes&quot;\""));
  ck_assert_ptr_nonnull(strstr(out, "<failure message=\"error: expected"));
  ck_assert_ptr_nonnull(
      strstr(out, "phase: expected banner, got &lt;connect&gt; &amp; \"x\""));
  ck_assert_uint_eq(count_lines_starting(out, "    <testcase "), 3);
  free(out);
  fixture_free(&f);
}
END_TEST

START_TEST(test_junit_hostile_bytes)
{
  struct mp_report_opts opts = {.format = MP_REPORT_JUNIT};
  static char *d[] = {"bell\a esc\033 ff\xff nul-less \xc3\xa9 \xef\xbf\xbe"};
  struct mp_outcome o = {.file = "x.yaml",
                         .name = "tab\there\nnewline",
                         .passed = 0,
                         .diffs = d,
                         .ndiffs = 1};
  struct mp_reporter *rep;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);

  rep = mp_reporter_new(out, 1, &opts);
  mp_reporter_case(rep, &o);
  mp_reporter_end(rep);
  fclose(out);
  ck_assert_msg(xml_wellformed(buf), "not well-formed:\n%s", buf);
  ck_assert_ptr_nonnull(strstr(buf, "name=\"tab&#9;here&#10;newline\""));
  ck_assert_ptr_nonnull(strstr(buf, "\xc3\xa9"));
  ck_assert_ptr_null(strchr(buf, '\a'));
  ck_assert_ptr_null(strchr(buf, '\033'));
  free(buf);
}
END_TEST

START_TEST(test_json_report)
{
  struct fixture f;
  size_t failed;
  char *out;

  fixture_init(&f);
  out = report(&f, MP_REPORT_JSON, 0, &failed);
  ck_assert_uint_eq(failed, 2);
  ck_assert_msg(json_valid(out), "invalid JSON:\n%s", out);
  ck_assert(out[0] == '[');
  ck_assert_ptr_nonnull(strstr(out, "\"passed\": false"));
  ck_assert_ptr_nonnull(strstr(out, "\"passed\": true"));
  ck_assert_ptr_nonnull(strstr(out, "\"result\": null"));
  ck_assert_ptr_nonnull(strstr(out, "\"name\": null"));
  ck_assert_ptr_nonnull(strstr(out, "\"error\": \"timeout\""));
  ck_assert_ptr_nonnull(strstr(out, "\"seconds\": 1.020"));
  free(out);
  fixture_free(&f);
}
END_TEST

START_TEST(test_result_json)
{
  struct mp_result *r = result_ok(), *t = result_timeout();
  char *s;

  s = mp_result_to_json(r, 0);
  ck_assert_msg(json_valid(s), "invalid JSON: %s", s);
  ck_assert_ptr_nonnull(strstr(s, "\"status\":\"ok\",\"state\":\"OK\","
                                  "\"error\":null,\"phase\":\"quit\""));
  ck_assert_ptr_nonnull(
      strstr(s, "\"reply\":{\"code\":221,\"text\":\"2.0.0 Bye\"}"));
  ck_assert_ptr_nonnull(
      strstr(s, "\"timings_us\":{\"connect\":1000,\"tls\":4500,\"banner\":"
                "2000,\"ehlo\":500,\"auth\":3000,\"quit\":1000,\"total\":"
                "12000}"));
  ck_assert_ptr_nonnull(strstr(s, "\"version\":\"TLSv1.3\""));
  ck_assert_ptr_nonnull(strstr(s, "\"days_left\":80"));
  ck_assert_ptr_nonnull(strstr(s, "\"verified\":true"));
  ck_assert_ptr_nonnull(strstr(s, "\"verify_error\":null"));
  ck_assert_ptr_nonnull(strstr(s, "\"auth\":\"CRAM-MD5\""));
  ck_assert_ptr_nonnull(strstr(s, "\"address\":\"127.0.0.1:25\""));
  ck_assert_ptr_nonnull(
      strstr(s, "\"transcript\":[{\"dir\":\"s\",\"t_us\":100,\"line\":\"220 "
                "mx.example.test ESMTP\"},{\"dir\":\"c\",\"t_us\":200,\"line\":"
                "\"EHLO mailprobe.invalid\"}]"));
  ck_assert_ptr_nonnull(strstr(s, "\"notes\":[\"TLS handshake done\"]"));
  /* Unknown mailbox facts are left out, not reported as -1. */
  ck_assert_ptr_null(strstr(s, "\"messages\""));
  ck_assert_ptr_null(strstr(s, "-1"));
  free(s);

  s = mp_result_to_json(t, 1);
  ck_assert_msg(json_valid(s), "invalid JSON: %s", s);
  ck_assert_ptr_nonnull(strstr(s, "\"status\": \"fail\""));
  ck_assert_ptr_nonnull(strstr(s, "\"error\": \"timeout\""));
  ck_assert_ptr_nonnull(strstr(s, "\"phase\": \"banner\""));
  ck_assert_ptr_nonnull(strstr(s, "\"reply\": null"));
  ck_assert_ptr_nonnull(strstr(s, "\"tls\": null"));
  ck_assert_ptr_nonnull(strstr(s, "\"auth\": null"));
  ck_assert_ptr_nonnull(strstr(s, "\"transcript\": []"));
  ck_assert_ptr_nonnull(strstr(s, "\"detail\": \"no greeting | within "
                                  "10s\\nat all\""));
  free(s);

  t->messages = 3;
  t->octets = 4096;
  s = mp_result_to_json(t, 0);
  ck_assert_ptr_nonnull(strstr(s, "\"messages\":3,\"octets\":4096"));
  free(s);
  mp_result_free(r);
  mp_result_free(t);
}
END_TEST

START_TEST(test_nagios)
{
  struct mp_result *r = result_ok(), *t = result_timeout();
  struct mp_result_fmt f = {.proto = "smtp", .timeout_us = 10000000};
  char *s;
  int rc;

  rc = mp_result_nagios(r, &f, &s);
  ck_assert_int_eq(rc, 0);
  ck_assert_str_eq(
      s, "SMTP OK - 127.0.0.1:25 answered in 0.012s, TLSv1.3 (certificate "
         "80 days left), auth CRAM-MD5 | time=0.012000s;;;0;10.000000 "
         "connect=0.001000s;;;0; tls=0.004500s;;;0; banner=0.002000s;;;0; "
         "ehlo=0.000500s;;;0; auth=0.003000s;;;0; quit=0.001000s;;;0; "
         "cert_days_left=80;;;;");
  free(s);

  mp_range_parse("10ms", &f.warning);
  mp_range_parse("20ms", &f.critical);
  rc = mp_result_nagios(r, &f, &s);
  ck_assert_int_eq(rc, 1);
  ck_assert(strncmp(s,
                    "SMTP WARNING - 127.0.0.1:25 answered in 0.012s "
                    "(warning at 0.010s)",
                    60) == 0);
  ck_assert_ptr_nonnull(strstr(s, "| time=0.012000s;0.01;0.02;0;10.000000"));
  free(s);

  mp_range_parse("11ms", &f.critical);
  ck_assert_int_eq(mp_result_nagios_state(r, &f), MP_NAGIOS_CRITICAL);
  /* The mailbox counts go into the perfdata (POP3 STAT, IMAP EXISTS). */
  r->messages = 3;
  r->octets = 1200;
  rc = mp_result_nagios(r, &f, &s);
  ck_assert_ptr_nonnull(strstr(s, " messages=3;;;0; size=1200B;;;0;"));
  ck_assert_ptr_nonnull(strstr(s, ", 3 messages"));
  free(s);
  r->messages = 1;
  mp_result_nagios(r, &f, &s);
  ck_assert_ptr_nonnull(strstr(s, ", 1 message,") ? s
                                                  : strstr(s, ", 1 message "));
  ck_assert_ptr_null(strstr(s, "1 messages"));
  free(s);
  r->messages = r->octets = -1;

  /* A round trip is judged by its delivery time, not its total. */
  mp_range_parse("5ms", &f.warning);
  mp_range_parse("11ms", &f.critical);
  r->delivery_us = 4000;
  ck_assert_int_eq(mp_result_nagios_state(r, &f), MP_NAGIOS_OK);
  r->delivery_us = 6000;
  ck_assert_int_eq(mp_result_nagios_state(r, &f), MP_NAGIOS_WARNING);
  r->delivery_us = 12000;
  ck_assert_int_eq(mp_result_nagios_state(r, &f), MP_NAGIOS_CRITICAL);
  /* Its text and perfdata name delivery: the thresholds go on delivery=,
   * not on time=. */
  r->delivery_us = 6000;
  rc = mp_result_nagios(r, &f, &s);
  ck_assert_int_eq(rc, 1);
  ck_assert_ptr_nonnull(strstr(s, "delivered in 0.006s (warning at 0.005s)"));
  ck_assert_ptr_nonnull(strstr(s, "| time=0.012000s;;;0;"));
  ck_assert_ptr_nonnull(strstr(s, " delivery=0.006000s;0.005;0.011;0;"));
  free(s);
  r->delivery_us = -1;
  memset(&f.warning, 0, sizeof(f.warning));
  memset(&f.critical, 0, sizeof(f.critical));
  r->warn = 1;
  ck_assert_int_eq(mp_result_nagios_state(r, &f), MP_NAGIOS_WARNING);

  f.target = "mx.example.com:2525";
  rc = mp_result_nagios(t, &f, &s);
  ck_assert_int_eq(rc, 2);
  /* One line; the '|' of the detail cannot start the perfdata. */
  ck_assert_ptr_null(strchr(s, '\n'));
  ck_assert_str_eq(s, "SMTP CRITICAL - timeout in banner after 10.000s: no "
                      "greeting / within 10s at all (mx.example.com:2525) "
                      "| time=10.000000s;;;0;10.000000 "
                      "connect=0.000800s;;;0;");
  free(s);

  mp_result_set_reply(t, 421, "4.3.2 busy");
  t->err = MP_E_REJECTED;
  rc = mp_result_nagios(t, &f, &s);
  ck_assert_ptr_nonnull(strstr(s, "last reply: 421 4.3.2 busy)"));
  free(s);

  t->err = MP_E_NO_RESOURCES;
  ck_assert_int_eq(mp_result_nagios_state(t, &f), MP_NAGIOS_UNKNOWN);
  mp_result_free(r);
  mp_result_free(t);
}
END_TEST

/* One verdict everywhere: the exit code's state is in the JSON and the
 * Prometheus text too, with the thresholds that made it. */
START_TEST(test_one_verdict)
{
  struct mp_result *r = result_ok();
  struct mp_result_fmt f = {.proto = "smtp"};
  char *s, *line;

  mp_range_parse("1ms", &f.warning);
  ck_assert_int_eq(mp_result_nagios(r, &f, &line), 1);
  free(line);
  s = mp_result_to_json_fmt(r, &f, 0);
  ck_assert_msg(json_valid(s), "invalid JSON: %s", s);
  ck_assert_ptr_nonnull(strstr(s, "\"status\":\"ok\",\"state\":\"WARNING\""));
  ck_assert_ptr_nonnull(
      strstr(s, "\"thresholds\":{\"judged\":\"total\",\"warning\":\"0.001\","
                "\"critical\":null,\"cert_warning_days\":null,"
                "\"cert_critical_days\":null}"));
  free(s);
  s = mp_result_prometheus(r, &f);
  ck_assert_ptr_nonnull(strstr(s, "mailprobe_up{protocol=\"smtp\",target=\""
                                  "127.0.0.1:25\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(s, "mailprobe_state{protocol=\"smtp\",target="
                                  "\"127.0.0.1:25\"} 1\n"));
  free(s);
  /* Without thresholds, the JSON of `run` still says the state. */
  s = mp_result_to_json(r, 0);
  ck_assert_ptr_nonnull(strstr(s, "\"state\":\"OK\""));
  free(s);
  mp_result_free(r);
}
END_TEST

/* The Monitoring Plugins guidelines' ranges: 10, 10:, ~:10, 10:20,
 * @10:20 (seconds here, as every duration). */
START_TEST(test_ranges)
{
  struct mp_range g;

  ck_assert_int_eq(mp_range_parse("10", &g), 0);
  ck_assert(!mp_range_alerts(&g, 10000000));
  ck_assert(mp_range_alerts(&g, 10000001));
  ck_assert_str_eq(g.text, "10");
  ck_assert(mp_range_is_upper(&g));
  ck_assert_int_eq(mp_range_parse("10:", &g), 0);
  ck_assert(mp_range_alerts(&g, 9999999));
  ck_assert(!mp_range_alerts(&g, 10000000));
  ck_assert(!mp_range_alerts(&g, 500000000));
  ck_assert_str_eq(g.text, "10:");
  ck_assert_int_eq(mp_range_parse("~:10", &g), 0);
  ck_assert(!mp_range_alerts(&g, 0));
  ck_assert(mp_range_alerts(&g, 10000001));
  ck_assert_str_eq(g.text, "~:10");
  ck_assert_int_eq(mp_range_parse("10:20", &g), 0);
  ck_assert(mp_range_alerts(&g, 9000000));
  ck_assert(!mp_range_alerts(&g, 10000000));
  ck_assert(!mp_range_alerts(&g, 20000000));
  ck_assert(mp_range_alerts(&g, 21000000));
  ck_assert(!mp_range_is_upper(&g));
  ck_assert_int_eq(mp_range_parse("@10:20", &g), 0);
  ck_assert(!mp_range_alerts(&g, 9000000));
  ck_assert(mp_range_alerts(&g, 10000000));
  ck_assert(mp_range_alerts(&g, 20000000));
  ck_assert(!mp_range_alerts(&g, 21000000));
  ck_assert_str_eq(g.text, "@10:20");
  /* Ends with units, printed in seconds for the perfdata. */
  ck_assert_int_eq(mp_range_parse("500ms:1m", &g), 0);
  ck_assert_str_eq(g.text, "0.5:60");
  const char *bad[] = {"", "@", ":", "~:", "20:10", "x", "1:2:3", "-1", "~"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ck_assert_msg(mp_range_parse(bad[i], &g) < 0, "%s", bad[i]);
  ck_assert(!mp_range_alerts(&g, 1)); /* unset never alerts */
}
END_TEST

/* check_smtp's -D 30,14: WARNING under 30 days, CRITICAL under 14; the
 * perfdata carries them as "30:" and "14:". */
START_TEST(test_cert_days)
{
  struct mp_result *r = result_ok();
  struct mp_result_fmt f = {
      .proto = "smtp", .cert_warning_days = 30, .cert_critical_days = 14};
  char *s;

  r->tls.days_left = 30;
  ck_assert_int_eq(mp_result_nagios_state(r, &f), MP_NAGIOS_OK);
  r->tls.days_left = 29;
  ck_assert_int_eq(mp_result_nagios(r, &f, &s), MP_NAGIOS_WARNING);
  ck_assert_ptr_nonnull(strstr(s, "(certificate 29 days left, warning under "
                                  "30)"));
  ck_assert_ptr_nonnull(strstr(s, " cert_days_left=29;30:;14:;;"));
  free(s);
  r->tls.days_left = 13;
  ck_assert_int_eq(mp_result_nagios_state(r, &f), MP_NAGIOS_CRITICAL);
  /* A certificate that failed verification keeps its facts. */
  r->ok = 0;
  r->err = MP_E_CERT_INVALID;
  r->tls_used = 0;
  r->tls.verified = 0;
  snprintf(r->tls.verify_error, sizeof(r->tls.verify_error),
           "certificate has expired");
  s = mp_result_to_json_fmt(r, &f, 0);
  ck_assert_ptr_nonnull(strstr(s, "\"tls\":{\"established\":false,"));
  ck_assert_ptr_nonnull(strstr(s, "\"not_after\":1900000000"));
  ck_assert_ptr_nonnull(strstr(s, "\"verify_error\":\"certificate has "
                                  "expired\""));
  free(s);
  mp_result_free(r);
}
END_TEST

/* The ehlo phase in perfdata is named after the protocol's own step. */
START_TEST(test_perf_labels)
{
  struct mp_result *r = result_ok();
  struct mp_result_fmt f = {.proto = "pop3"};
  char *s;

  mp_result_nagios(r, &f, &s);
  ck_assert_ptr_nonnull(strstr(s, " capa=0.000500s;;;0;"));
  ck_assert_ptr_null(strstr(s, " ehlo="));
  free(s);
  f.proto = "imap";
  mp_result_nagios(r, &f, &s);
  ck_assert_ptr_nonnull(strstr(s, " capability=0.000500s;;;0;"));
  ck_assert_ptr_null(strstr(s, " ehlo="));
  free(s);
  f.proto = "smtp";
  mp_result_nagios(r, &f, &s);
  ck_assert_ptr_nonnull(strstr(s, " ehlo=0.000500s;;;0;"));
  free(s);
  mp_result_free(r);
}
END_TEST

START_TEST(test_prometheus)
{
  struct mp_result *r = result_ok(), *t = result_timeout();
  struct mp_result_fmt f = {.proto = "imap", .target = "a\"b\\c:993"};
  char *s;

  s = mp_result_prometheus(r, &f);
  ck_assert_ptr_nonnull(
      strstr(s, "# TYPE mailprobe_up gauge\nmailprobe_up{protocol=\"imap\","
                "target=\"a\\\"b\\\\c:993\"} 1\n"));
  ck_assert_ptr_nonnull(
      strstr(s, "mailprobe_duration_seconds{protocol=\"imap\",target=\"a\\\""
                "b\\\\c:993\",phase=\"banner\"} 0.002000\n"));
  ck_assert_ptr_nonnull(strstr(s, "phase=\"total\"} 0.012000\n"));
  /* Expiry as a timestamp in seconds: promtool takes no "_days" unit. */
  ck_assert_ptr_null(strstr(s, "_days"));
  ck_assert_ptr_nonnull(
      strstr(s, "mailprobe_tls_cert_expiry_timestamp_seconds{"));
  ck_assert_ptr_nonnull(strstr(s, "} 1900000000\n"));
  ck_assert_ptr_nonnull(strstr(s, "mailprobe_state{protocol=\"imap\","
                                  "target=\"a\\\"b\\\\c:993\"} 0\n"));
  ck_assert_ptr_nonnull(strstr(s, "status=\"ok\",error=\"\",phase=\"quit\","
                                  "tls_version=\"TLSv1.3\",auth=\"CRAM-MD5\""
                                  "} 1\n"));
  ck_assert_ptr_null(strstr(s, "phase=\"send\""));
  free(s);

  s = mp_result_prometheus(t, &f);
  ck_assert_ptr_nonnull(strstr(s, "mailprobe_up{"));
  ck_assert_ptr_nonnull(strstr(s, "} 0\n"));
  ck_assert_ptr_nonnull(strstr(s, "error=\"timeout\",phase=\"banner\""));
  ck_assert_ptr_null(strstr(s, "mailprobe_tls_cert_expiry"));
  ck_assert_ptr_nonnull(strstr(s, "mailprobe_state{"));
  ck_assert_ptr_nonnull(strstr(s, "\"} 2\n"));
  /* Every line is a comment or ends in a number. */
  {
    const char *p = s;

    while (*p) {
      const char *nl = strchr(p, '\n');

      ck_assert_ptr_nonnull(nl);
      ck_assert(*p == '#' || (nl[-1] >= '0' && nl[-1] <= '9'));
      p = nl + 1;
    }
  }
  free(s);
  mp_result_free(r);
  mp_result_free(t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The runner's expectation diffs. */

static void case_init(struct mp_case *c)
{
  int p;

  memset(c, 0, sizeof(*c));
  c->expect.status = -1;
  c->expect.phase = -1;
  c->expect.reply_code = -1;
  c->expect.elapsed.min_us = c->expect.elapsed.max_us = -1;
  for (p = 0; p < MP_PHASE_COUNT; p++)
    c->expect.timings[p].min_us = c->expect.timings[p].max_us = -1;
  c->expect.tls = -1;
  c->expect.cert_verified = -1;
  c->expect.messages = -1;
}

static void free_diffs(char **d, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    free(d[i]);
  free(d);
}

START_TEST(test_compare)
{
  struct mp_result *t = result_timeout(), *r = result_ok();
  struct mp_case c;
  char **d = NULL;
  size_t n = 0;

  case_init(&c);
  mp_run_compare(&c, t, &d, &n);
  ck_assert_uint_eq(n, 0); /* nothing expected, nothing to differ */

  c.expect.status = 0;
  c.expect.has_error = 1;
  c.expect.error = MP_E_TIMEOUT;
  c.expect.phase = MP_PHASE_BANNER;
  c.expect.elapsed.max_us = 11000000;
  mp_run_compare(&c, t, &d, &n);
  ck_assert_uint_eq(n, 0);

  t->err = MP_E_CONNECTION_CLOSED;
  t->phase = MP_PHASE_EHLO;
  c.expect.elapsed.max_us = 1500000;
  c.expect.elapsed.min_us = 10500000;
  mp_run_compare(&c, t, &d, &n);
  ck_assert_uint_eq(n, 4);
  ck_assert_str_eq(d[0], "error: expected timeout, got connection_closed");
  ck_assert_str_eq(d[1], "phase: expected banner, got ehlo");
  ck_assert_str_eq(d[2], "elapsed: expected at least 10.5s, got 10s");
  ck_assert_str_eq(d[3], "elapsed: expected at most 1.5s, got 10s");
  free_diffs(d, n);
  d = NULL;
  n = 0;

  /* Everything a passing probe can be checked for. */
  case_init(&c);
  c.expect.status = 1;
  c.expect.has_error = 1;
  c.expect.error = 0;
  c.expect.reply_code = 221;
  c.expect.reply_text = "2.0.0 *";
  c.expect.auth = "cram-md5";
  c.expect.tls = 1;
  c.expect.tls_version = "TLSv1.3";
  c.expect.cert_verified = 1;
  c.expect.timings[MP_PHASE_BANNER].max_us = 5000;
  mp_run_compare(&c, r, &d, &n);
  ck_assert_uint_eq(n, 0);

  c.expect.reply_code = 250;
  c.expect.reply_text = "5.*";
  c.expect.auth = "none";
  c.expect.tls_version = "TLSv1.2";
  c.expect.cert_verified = 0;
  c.expect.timings[MP_PHASE_BANNER].max_us = 1000;
  c.expect.timings[MP_PHASE_SEND].max_us = 1000;
  c.expect.messages = 2;
  mp_run_compare(&c, r, &d, &n);
  ck_assert_uint_eq(n, 8);
  ck_assert_str_eq(d[0], "reply code: expected 250, got 221");
  ck_assert_str_eq(d[1], "reply text: expected \"5.*\", got \"2.0.0 Bye\"");
  ck_assert_str_eq(d[2], "timings.banner: expected at most 1ms, got 2ms");
  ck_assert_str_eq(d[3],
                   "timings.send: expected a time, but the phase did not run");
  ck_assert_str_eq(d[4], "auth: expected none, got CRAM-MD5");
  ck_assert_str_eq(d[5], "tls version: expected TLSv1.2, got TLSv1.3");
  ck_assert_str_eq(d[6], "cert verified: expected false, got true");
  ck_assert_str_eq(d[7], "messages: expected 2, got unknown");
  free_diffs(d, n);
  d = NULL;
  n = 0;

  case_init(&c);
  c.expect.status = 1;
  c.expect.tls = 1;
  c.expect.auth = "PLAIN";
  mp_run_compare(&c, t, &d, &n);
  ck_assert_uint_eq(n, 3);
  ck_assert(strncmp(d[0],
                    "status: expected ok, got fail (connection_closed "
                    "in ehlo: no greeting",
                    60) == 0);
  ck_assert_str_eq(d[1], "auth: expected PLAIN, got none");
  ck_assert_str_eq(d[2], "tls: expected true, got false");
  free_diffs(d, n);
  mp_result_free(t);
  mp_result_free(r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Command-line parsers. */

START_TEST(test_auth_list)
{
  char err[256];
  unsigned m = 0;

  ck_assert_int_eq(
      mp_auth_list_parse("CRAM-MD5,plain", MP_PROTO_SMTP, &m, err, 256), 0);
  ck_assert_uint_eq(m,
                    MP_SASL_BIT(MP_SASL_CRAM_MD5) | MP_SASL_BIT(MP_SASL_PLAIN));
  ck_assert_int_eq(mp_auth_list_parse("USER APOP", MP_PROTO_POP3, &m, err, 256),
                   0);
  ck_assert_uint_eq(m, MP_AUTH_USER | MP_AUTH_APOP);
  ck_assert_int_eq(mp_auth_list_parse("LOGIN", MP_PROTO_IMAP, &m, err, 256), 0);
  ck_assert_uint_eq(m, MP_AUTH_LOGIN_CMD);
  ck_assert_int_eq(
      mp_auth_list_parse("AUTH=LOGIN", MP_PROTO_IMAP, &m, err, 256), 0);
  ck_assert_uint_eq(m, MP_SASL_BIT(MP_SASL_LOGIN));
  ck_assert_int_eq(mp_auth_list_parse("LOGIN", MP_PROTO_SMTP, &m, err, 256), 0);
  ck_assert_uint_eq(m, MP_SASL_BIT(MP_SASL_LOGIN));
  ck_assert_int_lt(mp_auth_list_parse("USER", MP_PROTO_SMTP, &m, err, 256), 0);
  ck_assert_int_lt(mp_auth_list_parse("X-FOO", MP_PROTO_SMTP, &m, err, 256), 0);
  ck_assert_ptr_nonnull(strstr(err, "X-FOO"));
  ck_assert_int_lt(mp_auth_list_parse(" , ", MP_PROTO_SMTP, &m, err, 256), 0);
}
END_TEST

START_TEST(test_host_map)
{
  struct mp_host_maps m = {0};
  char err[256];

  ck_assert_int_eq(mp_host_map_add(&m, "127.0.0.1 mx.example.test mail.test",
                                   err, sizeof(err)),
                   0);
  ck_assert_int_eq(mp_host_map_add(&m, "::1 v6.test", err, sizeof(err)), 0);
  ck_assert_uint_eq(m.n, 3);
  ck_assert_str_eq(m.v[0].ip, "127.0.0.1");
  ck_assert_str_eq(m.v[1].name, "mail.test");
  ck_assert_str_eq(m.v[2].ip, "::1");
  ck_assert_str_eq(m.v[2].name, "v6.test");
  ck_assert_int_lt(mp_host_map_add(&m, "mx.test 127.0.0.1", err, sizeof(err)),
                   0);
  ck_assert_int_lt(mp_host_map_add(&m, "127.0.0.1", err, sizeof(err)), 0);
  ck_assert_int_lt(mp_host_map_add(&m, "", err, sizeof(err)), 0);
  mp_host_maps_free(&m);
}
END_TEST

START_TEST(test_secret_file)
{
  static const struct {
    const char *content;
    size_t len;
    const char *want; /* NULL: refused */
  } cases[] = {
      {"s3cret\n", 7, "s3cret"},
      {"s3cret\r\n", 8, "s3cret"},
      {"s3cret", 6, "s3cret"},
      {"two\n\n", 5, "two\n"},
      {"", 0, ""},
      {" spaced \n", 9, " spaced "},
      {"nul\0inside\n", 11, NULL},
  };
  char path[] = "/tmp/mailprobe-check-secret-XXXXXX", err[256];
  size_t i;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *out = NULL;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, cases[i].content, cases[i].len),
                     (ssize_t)cases[i].len);
    close(fd);
    if (cases[i].want) {
      ck_assert_int_eq(mp_read_secret_file(path, &out, err, sizeof(err)), 0);
      ck_assert_str_eq(out, cases[i].want);
    } else {
      ck_assert_int_lt(mp_read_secret_file(path, &out, err, sizeof(err)), 0);
    }
    free(out);
    unlink(path);
    memcpy(path + strlen(path) - 6, "XXXXXX", 6);
  }
  ck_assert_int_lt(mp_read_secret_file("/nonexistent/secret", &(char *){NULL},
                                       err, sizeof(err)),
                   0);
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/secret"));
}
END_TEST

/* The options check and roundtrip share: taken into the helper, the
 * command's own handed back, a bad value an error with the message both
 * commands print. */
START_TEST(test_probe_cli)
{
  static const struct mp_opt own[] = {{"tls", 0, 1, 1}, {"help", 'h', 0, 2}};
  char *argv[] = {"check",
                  "smtp://mx.test",
                  "--timeout",
                  "1500ms",
                  "--tls",
                  "implicit",
                  "-v",
                  "--format=json",
                  "--dns-server",
                  "127.0.0.1:5353",
                  "--host-map",
                  "192.0.2.1 mx.test",
                  "--warning",
                  "2",
                  NULL};
  struct mp_probe_cli p;
  struct mp_args a;
  struct mp_url u;
  const char *val;
  char err[256];
  int tls;

  mp_probe_cli_init(&p, "check", own, 2);
  mp_args_init(&a, 14, argv);
  ck_assert_int_eq(mp_probe_cli_next(&p, &a, &val, err, sizeof(err)),
                   MP_ARG_POSITIONAL);
  ck_assert_str_eq(val, "smtp://mx.test");
  ck_assert_int_eq(mp_probe_cli_next(&p, &a, &val, err, sizeof(err)), 1);
  tls = mp_probe_cli_tls("tls", val, err, sizeof(err));
  ck_assert_int_eq(tls, MP_TLSMODE_IMPLICIT);
  ck_assert_int_eq(mp_probe_cli_next(&p, &a, &val, err, sizeof(err)),
                   MP_ARG_END);
  ck_assert_uint_eq(p.probe.timeout_ms, 1500);
  ck_assert_ptr_nonnull(p.probe.trace);
  ck_assert_int_eq(p.format, MP_OUT_JSON);
  ck_assert_uint_eq(p.warning.high_us, 2000000);
  ck_assert(mp_range_is_upper(&p.warning));
  ck_assert_int_eq(mp_probe_cli_thresholds(&p, err, sizeof(err)), 0);
  ck_assert_int_eq(mp_probe_cli_dns(&p, err, sizeof(err)), 0);
  ck_assert_int_eq(p.probe.dns.mode, MP_DNS_SERVER);
  ck_assert_uint_eq(p.probe.dns.nhosts, 1);
  /* No port in the URL but a TLS mode: that mode's port. */
  ck_assert_int_eq(mp_url_parse("smtp://mx.test", &u, err, sizeof(err)), 0);
  mp_probe_cli_target(&p.probe, &u, tls);
  ck_assert_uint_eq(p.probe.port, 465);
  mp_probe_cli_target(&p.probe, &u, -1);
  ck_assert_uint_eq(p.probe.port, 25);
  ck_assert_int_eq(p.probe.tls, MP_TLSMODE_AUTO);
  ck_assert_int_lt(mp_probe_cli_tls("send-tls", "tls1", err, sizeof(err)), 0);
  ck_assert_str_eq(err, "--send-tls: \"tls1\" is not one of none, starttls, "
                        "implicit, auto");
  mp_probe_cli_free(&p);

  {
    char *bad[] = {"roundtrip", "--timeout",    "0",       "--format",
                   "xml",       "--dns-server", "mx.test", "--warning",
                   "5",         "--critical",   "1",       NULL};

    mp_probe_cli_init(&p, "roundtrip", own, 2);
    mp_args_init(&a, 3, bad);
    ck_assert_int_eq(mp_probe_cli_next(&p, &a, &val, err, sizeof(err)),
                     MP_ARG_ERROR);
    ck_assert_str_eq(err, "--timeout: must be more than 0");
    mp_args_init(&a, 5, bad);
    a.i = 3;
    ck_assert_int_eq(mp_probe_cli_next(&p, &a, &val, err, sizeof(err)),
                     MP_ARG_ERROR);
    ck_assert_str_eq(
        err, "--format: \"xml\" is not one of nagios, json, prometheus");
    mp_args_init(&a, 7, bad);
    a.i = 5;
    ck_assert_int_eq(mp_probe_cli_next(&p, &a, &val, err, sizeof(err)),
                     MP_ARG_ERROR);
    ck_assert_str_eq(err, "--dns-server: \"mx.test\" is not an IP address");
    mp_args_init(&a, 11, bad);
    a.i = 7;
    ck_assert_int_eq(mp_probe_cli_next(&p, &a, &val, err, sizeof(err)),
                     MP_ARG_END);
    ck_assert_int_lt(mp_probe_cli_thresholds(&p, err, sizeof(err)), 0);
    ck_assert_str_eq(err, "--warning is above --critical");
    p.dns_mode = MP_DNS_SERVER;
    ck_assert_int_lt(mp_probe_cli_dns(&p, err, sizeof(err)), 0);
    ck_assert_str_eq(err, "--dns-mode server needs --dns-server IP[:PORT]");
    mp_probe_cli_free(&p);
  }
}
END_TEST

START_TEST(test_args_scanner)
{
  static const struct mp_opt opts[] = {
      {"jobs", 'j', 1, 1},
      {"verbose", 'v', 0, 2},
      {"format", 0, 1, 3},
  };
  char *argv[] = {"run",      "a",   "--jobs=4", "-j",     "5", "-v",
                  "--format", "tap", "--",       "--jobs", NULL};
  struct mp_args a;
  const char *val;
  char err[128];

  mp_args_init(&a, 10, argv);
  ck_assert_int_eq(mp_args_next(&a, opts, 3, &val, err, 128),
                   MP_ARG_POSITIONAL);
  ck_assert_str_eq(val, "a");
  ck_assert_int_eq(mp_args_next(&a, opts, 3, &val, err, 128), 1);
  ck_assert_str_eq(val, "4");
  ck_assert_int_eq(mp_args_next(&a, opts, 3, &val, err, 128), 1);
  ck_assert_str_eq(val, "5");
  ck_assert_int_eq(mp_args_next(&a, opts, 3, &val, err, 128), 2);
  ck_assert_int_eq(mp_args_next(&a, opts, 3, &val, err, 128), 3);
  ck_assert_str_eq(val, "tap");
  ck_assert_int_eq(mp_args_next(&a, opts, 3, &val, err, 128),
                   MP_ARG_POSITIONAL);
  ck_assert_str_eq(val, "--jobs");
  ck_assert_int_eq(mp_args_next(&a, opts, 3, &val, err, 128), MP_ARG_END);

  {
    char *bad1[] = {"run", "--nope", NULL};
    char *bad2[] = {"run", "--jobs", NULL};
    char *bad3[] = {"run", "--verbose=1", NULL};
    char *bad4[] = {"run", "--jo", NULL};

    mp_args_init(&a, 2, bad1);
    ck_assert_int_eq(mp_args_next(&a, opts, 3, &val, err, 128), MP_ARG_ERROR);
    ck_assert_str_eq(err, "unknown option --nope");
    mp_args_init(&a, 2, bad2);
    ck_assert_int_eq(mp_args_next(&a, opts, 3, &val, err, 128), MP_ARG_ERROR);
    ck_assert_str_eq(err, "--jobs needs a value");
    mp_args_init(&a, 2, bad3);
    ck_assert_int_eq(mp_args_next(&a, opts, 3, &val, err, 128), MP_ARG_ERROR);
    mp_args_init(&a, 2, bad4);
    ck_assert_int_eq(mp_args_next(&a, opts, 3, &val, err, 128), MP_ARG_ERROR);
  }
}
END_TEST

START_TEST(test_durations_and_numbers)
{
  char err[256];
  uint64_t us;
  unsigned long v;

  ck_assert_int_eq(mp_args_duration("timeout", "10", &us, err, 256), 0);
  ck_assert_uint_eq(us, 10000000);
  ck_assert_int_eq(mp_args_duration("timeout", "500ms", &us, err, 256), 0);
  ck_assert_uint_eq(us, 500000);
  ck_assert_int_eq(mp_args_duration("timeout", "5m", &us, err, 256), 0);
  ck_assert_uint_eq(us, 300000000);
  ck_assert_int_lt(mp_args_duration("timeout", "ten", &us, err, 256), 0);
  ck_assert_ptr_nonnull(strstr(err, "--timeout"));
  ck_assert_int_lt(mp_args_duration("timeout", "10 s", &us, err, 256), 0);
  ck_assert_int_eq(mp_args_uint("jobs", "16", 1, 100, &v, err, 256), 0);
  ck_assert_uint_eq(v, 16);
  ck_assert_int_lt(mp_args_uint("jobs", "0", 1, 100, &v, err, 256), 0);
  ck_assert_int_lt(mp_args_uint("jobs", "-3", 1, 100, &v, err, 256), 0);
  ck_assert_int_lt(mp_args_uint("jobs", "4x", 1, 100, &v, err, 256), 0);
}
END_TEST

START_TEST(test_classname)
{
  char b[64];

  mp_report_classname("cases/smtp/x.yaml", b, sizeof(b));
  ck_assert_str_eq(b, "cases.smtp");
  mp_report_classname("./cases/x.yaml", b, sizeof(b));
  ck_assert_str_eq(b, "cases");
  mp_report_classname("x.yaml", b, sizeof(b));
  ck_assert_str_eq(b, ".");
  ck_assert_int_eq(mp_report_format_from_name("junit"), MP_REPORT_JUNIT);
  ck_assert_int_eq(mp_report_format_from_name("xml"), -1);
}
END_TEST

static Suite *report_suite(void)
{
  Suite *s = suite_create("report");
  TCase *tc = tcase_create("report");

  tcase_add_test(tc, test_human);
  tcase_add_test(tc, test_human_all_pass_and_transcript_tail);
  tcase_add_test(tc, test_tap);
  tcase_add_test(tc, test_junit);
  tcase_add_test(tc, test_junit_hostile_bytes);
  tcase_add_test(tc, test_json_report);
  tcase_add_test(tc, test_result_json);
  tcase_add_test(tc, test_nagios);
  tcase_add_test(tc, test_prometheus);
  tcase_add_test(tc, test_one_verdict);
  tcase_add_test(tc, test_ranges);
  tcase_add_test(tc, test_cert_days);
  tcase_add_test(tc, test_perf_labels);
  tcase_add_test(tc, test_compare);
  tcase_add_test(tc, test_auth_list);
  tcase_add_test(tc, test_host_map);
  tcase_add_test(tc, test_secret_file);
  tcase_add_test(tc, test_args_scanner);
  tcase_add_test(tc, test_probe_cli);
  tcase_add_test(tc, test_durations_and_numbers);
  tcase_add_test(tc, test_classname);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(report_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
