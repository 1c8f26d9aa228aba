/* The compliance matrix writers (harness/report/matrix.c, html.c) on a
 * fixed matrix: the counts per class and subject, JSON that reads back
 * with the same classes, a markdown table with the timeout-honesty
 * column, and an HTML page with its counts in elements a browser test
 * reads, everything escaped and nothing fetched. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/report/matrix.h"
#include "harness/subject/baseline.h"

static struct mp_cell cells[3][2];
static struct mp_matrix_row rows[3];
static const char *const subjects[] = {"mailprobe", "check_<x>"};
static struct mp_cell_line line = {12.5, "mx", 0, "AUTH PLAIN ****"};
static struct mp_cell_phase phases[] = {{"connect", 0.2}, {"banner", 1000.0}};

static void fill(struct mp_matrix *m)
{
  memset(cells, 0, sizeof(cells));
  memset(rows, 0, sizeof(rows));
  cells[0][0].cls = MP_CLASS_PASS;
  cells[0][0].seconds = 0.01;
  cells[0][0].phases = phases;
  cells[0][0].nphases = 2;
  cells[0][1].cls = MP_CLASS_FAIL;
  cells[0][1].reason = "status: expected fail (rejected), it said ok";
  cells[0][1].seconds = 0.3;
  cells[0][1].timeout_s = 3;
  cells[0][1].exit_status = 0;
  cells[0][1].argv = "/x/check_smtp -H '127.0.0.1'";
  cells[0][1].out = "SMTP OK <b>";
  cells[0][1].lines = &line;
  cells[0][1].nlines = 1;
  cells[1][0].cls = MP_CLASS_PASS;
  cells[1][0].seconds = 1.0;
  cells[1][0].timeout_s = 1;
  cells[1][1].cls = MP_CLASS_NON_STRICT;
  cells[1][1].reason = "slower than the case's bound, ended by its own "
                       "timeout";
  cells[1][1].seconds = 2.5;
  cells[1][1].timeout_s = 1;
  cells[2][0].cls = MP_CLASS_PASS;
  cells[2][1].cls = MP_CLASS_UNSUPPORTED;
  cells[2][1].reason = "tls: implicit is unsupported";
  rows[0] = (struct mp_matrix_row){"cases/a|b.yaml", "a", "smtp", 0, cells[0]};
  rows[1] = (struct mp_matrix_row){"cases/drip.yaml", "d", "smtp", 1, cells[1]};
  rows[2] = (struct mp_matrix_row){"cases/tls.yaml", "t", "imap", 0, cells[2]};
  memset(m, 0, sizeof(*m));
  m->subjects = subjects;
  m->nsubjects = 2;
  m->rows = rows;
  m->nrows = 3;
}

static char *render(enum mp_matrix_format f)
{
  struct mp_matrix m;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);

  fill(&m);
  mp_matrix_write(out, &m, f, 1);
  fclose(out);
  return buf;
}

START_TEST(test_counts)
{
  struct mp_matrix m;
  size_t counts[2 * MP_CLASS_COUNT];

  fill(&m);
  mp_matrix_count(&m, counts);
  ck_assert_uint_eq(counts[0 * MP_CLASS_COUNT + MP_CLASS_PASS], 3);
  ck_assert_uint_eq(counts[1 * MP_CLASS_COUNT + MP_CLASS_FAIL], 1);
  ck_assert_uint_eq(counts[1 * MP_CLASS_COUNT + MP_CLASS_NON_STRICT], 1);
  ck_assert_uint_eq(counts[1 * MP_CLASS_COUNT + MP_CLASS_UNSUPPORTED], 1);
  ck_assert_int_eq(mp_class_from_name("non-strict"), MP_CLASS_NON_STRICT);
  ck_assert_int_eq(mp_class_from_name("nope"), -1);
}
END_TEST

START_TEST(test_human)
{
  char *t = render(MP_MATRIX_HUMAN);

  ck_assert_ptr_nonnull(strstr(t, "FAIL        check_<x>"));
  ck_assert_ptr_nonnull(strstr(t, "check_<x>: 0 PASS, 1 NON-STRICT, 1 FAIL, "
                                  "1 UNSUPPORTED, 0 ERROR"));
  ck_assert_ptr_nonnull(strstr(t, "stdout: SMTP OK <b>"));
  free(t);
}
END_TEST

START_TEST(test_json_reads_back)
{
  char *t = render(MP_MATRIX_JSON);
  struct mp_baseline *b = NULL;
  char err[256];
  size_t i;
  int fail = 0;

  ck_assert_ptr_nonnull(strstr(t, "\"NON-STRICT\": 1"));
  /* The JSON report is a baseline: it reads back cell for cell. */
  ck_assert_int_eq(
      mp_baseline_parse(t, strlen(t), "m.json", &b, err, sizeof(err)), 0);
  ck_assert_uint_eq(b->n, 6);
  for (i = 0; i < b->n; i++)
    if (strcmp(b->v[i].subject, "check_<x>") == 0 &&
        strcmp(b->v[i].file, "cases/a|b.yaml") == 0) {
      ck_assert_int_eq(b->v[i].cls, MP_CLASS_FAIL);
      ck_assert_str_eq(b->v[i].reason,
                       "status: expected fail (rejected), it said ok");
      fail = 1;
    }
  ck_assert_int_eq(fail, 1);
  mp_baseline_free(b);
  free(t);
}
END_TEST

START_TEST(test_markdown)
{
  char *t = render(MP_MATRIX_MARKDOWN);

  ck_assert_ptr_nonnull(strstr(t, "| case | protocol | mailprobe | check_<x> "
                                  "| timeout honesty (took / given) |"));
  /* A pipe in a file name does not break the table. */
  ck_assert_ptr_nonnull(strstr(t, "`cases/a\\|b.yaml`"));
  ck_assert_ptr_nonnull(strstr(t, "check_<x> 2.50 / 1 s (late)"));
  ck_assert_ptr_nonnull(strstr(t, "| NON-STRICT | 0 | 1 |"));
  free(t);
}
END_TEST

START_TEST(test_html)
{
  char *t = render(MP_MATRIX_HTML);

  ck_assert_ptr_nonnull(strstr(t, "<b id=\"count-PASS\">3</b>"));
  ck_assert_ptr_nonnull(strstr(t, "<b id=\"count-FAIL\">1</b>"));
  ck_assert_ptr_nonnull(strstr(t, "<b id=\"count-cases\">3</b>"));
  /* Escaped everywhere: names, output, transcript lines. */
  ck_assert_ptr_null(strstr(t, "check_<x>"));
  ck_assert_ptr_nonnull(strstr(t, "check_&lt;x&gt;"));
  ck_assert_ptr_nonnull(strstr(t, "SMTP OK &lt;b&gt;"));
  ck_assert_ptr_nonnull(strstr(t, "AUTH PLAIN ****"));
  ck_assert_ptr_nonnull(strstr(t, "<svg class=\"waterfall\""));
  /* Self-contained: nothing is fetched. */
  ck_assert_ptr_null(strstr(t, "http://"));
  ck_assert_ptr_null(strstr(t, "https://"));
  ck_assert_ptr_null(strstr(t, " src="));
  ck_assert_ptr_null(strstr(t, "<link"));
  free(t);
}
END_TEST

static Suite *matrix_suite(void)
{
  Suite *s = suite_create("matrix");
  TCase *tc = tcase_create("matrix");

  tcase_add_test(tc, test_counts);
  tcase_add_test(tc, test_human);
  tcase_add_test(tc, test_json_reads_back);
  tcase_add_test(tc, test_markdown);
  tcase_add_test(tc, test_html);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(matrix_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
