/* Unit tests for fake_servers/mailstore.c: pure, no loop. */
#include "fake_servers/mailstore.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "wire/errors.h"

START_TEST(users_are_case_insensitive_and_unique)
{
  struct mp_mailstore *s = mp_mailstore_new();
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(mp_mailstore_add_user(s, "probe@example.test"), 0);
  ck_assert_int_eq(mp_mailstore_add_user(s, "PROBE@example.test"), 0);
  ck_assert_int_eq(mp_mailstore_add_user(s, "other"), 0);
  ck_assert_uint_eq(mp_mailstore_users(s), 2);
  ck_assert(mp_mailstore_has_user(s, "Probe@Example.Test"));
  ck_assert(!mp_mailstore_has_user(s, "nobody"));
  mp_mailstore_free(s);
}
END_TEST

static const struct {
  const char *address;
  const char *user; /* NULL: nobody */
} lookups[] = {
    {"probe@example.test", "probe@example.test"},
    {"PROBE@EXAMPLE.TEST", "probe@example.test"},
    {"other@anywhere.test", "other"}, /* local part reaches "other" */
    {"other", "other"},
    {"probe@elsewhere.test", NULL}, /* "probe@..." is not a bare user */
    {"nobody@example.test", NULL},
    {"", NULL},
};

START_TEST(lookup_table)
{
  struct mp_mailstore *s = mp_mailstore_new();
  mp_mailstore_add_user(s, "probe@example.test");
  mp_mailstore_add_user(s, "other");
  const char *got = mp_mailstore_lookup(s, lookups[_i].address);
  if (lookups[_i].user)
    ck_assert_str_eq(got, lookups[_i].user);
  else
    ck_assert_ptr_null(got);
  mp_mailstore_free(s);
}
END_TEST

START_TEST(deliver_and_get)
{
  struct mp_mailstore *s = mp_mailstore_new();
  uint64_t id1 = 0, id2 = 0;
  mp_mailstore_add_user(s, "u");
  ck_assert_int_eq(mp_mailstore_deliver(s, "u", "a\r\n", 3, 10, 10, &id1), 0);
  ck_assert_int_eq(mp_mailstore_deliver(s, "U", "bb\r\n", 4, 11, 11, &id2), 0);
  ck_assert_uint_gt(id2, id1);
  ck_assert_uint_eq(mp_mailstore_next_id(s), id2 + 1);
  const struct mp_mail *m = mp_mailstore_get(s, "u", id2);
  ck_assert_ptr_nonnull(m);
  ck_assert_uint_eq(m->size, 4);
  ck_assert_str_eq(m->data, "bb\r\n");
  ck_assert_uint_eq(m->arrived_us, 11);
  ck_assert_int_eq(mp_mailstore_deliver(s, "nobody", "x", 1, 0, 0, NULL),
                   MP_E_MAILBOX_ERROR);
  ck_assert_ptr_null(mp_mailstore_get(s, "u", 999));
  ck_assert_ptr_null(mp_mailstore_get(s, "nobody", id1));
  ck_assert_uint_ne(mp_mailstore_validity(s), 0);
  mp_mailstore_free(s);
}
END_TEST

/* A cleared store is as new: no user, ids from 1, and a new UIDVALIDITY
 * (RFC 9051 2.3.1.1: the ids repeat). */
START_TEST(clear_is_as_new)
{
  struct mp_mailstore *s = mp_mailstore_new();
  uint64_t id = 0;
  mp_mailstore_add_user(s, "u");
  ck_assert_int_eq(mp_mailstore_seed(s, "u", 3, 300, 10), 0);
  ck_assert_int_eq(mp_mailstore_deliver(s, "u", "a\r\n", 3, 10, 10, &id), 0);
  uint32_t v = mp_mailstore_validity(s);
  mp_mailstore_clear(s);
  ck_assert_uint_eq(mp_mailstore_users(s), 0);
  ck_assert_int_eq(mp_mailstore_has_user(s, "u"), 0);
  ck_assert_uint_eq(mp_mailstore_next_id(s), 1);
  ck_assert_uint_ne(mp_mailstore_validity(s), v);
  ck_assert_uint_ne(mp_mailstore_validity(s), 0);
  mp_mailstore_add_user(s, "u");
  ck_assert_int_eq(mp_mailstore_deliver(s, "u", "b\r\n", 3, 10, 10, &id), 0);
  ck_assert_uint_eq(id, 1);
  ck_assert_uint_eq(mp_mailstore_count(s, "u", 10), 1);
  mp_mailstore_free(s);
}
END_TEST

START_TEST(deliver_take_keeps_the_buffer)
{
  struct mp_mailstore *s = mp_mailstore_new();
  uint64_t id = 0;
  mp_mailstore_add_user(s, "u");
  char *buf = strdup("taken\r\n");
  ck_assert_int_eq(mp_mailstore_deliver_take(s, "U", buf, 7, 5, 6, &id), 0);
  const struct mp_mail *m = mp_mailstore_get(s, "u", id);
  ck_assert_ptr_eq(m->data, buf); /* no copy */
  ck_assert_uint_eq(m->size, 7);
  ck_assert_uint_eq(m->arrived_us, 5);
  ck_assert_uint_eq(m->visible_us, 6);
  /* Refused: the caller still owns it. */
  char *other = strdup("x");
  ck_assert_int_eq(mp_mailstore_deliver_take(s, "nobody", other, 1, 0, 0, &id),
                   MP_E_MAILBOX_ERROR);
  free(other);
  /* Copies and taken buffers mix; ids keep increasing. */
  uint64_t id2 = 0;
  ck_assert_int_eq(mp_mailstore_deliver(s, "u", "copy", 4, 7, 7, &id2), 0);
  ck_assert_uint_gt(id2, id);
  ck_assert_uint_eq(mp_mailstore_count(s, "u", 10), 2);
  mp_mailstore_free(s);
}
END_TEST

START_TEST(delayed_messages_are_hidden_until_visible)
{
  struct mp_mailstore *s = mp_mailstore_new();
  uint64_t *ids;
  size_t n;
  mp_mailstore_add_user(s, "u");
  mp_mailstore_deliver(s, "u", "now", 3, 100, 100, NULL);
  mp_mailstore_deliver(s, "u", "later", 5, 100, 5000, NULL);
  ck_assert_uint_eq(mp_mailstore_count(s, "u", 100), 1);
  ck_assert_uint_eq(mp_mailstore_count(s, "u", 4999), 1);
  ck_assert_uint_eq(mp_mailstore_count(s, "u", 5000), 2);
  ck_assert_int_eq(mp_mailstore_list(s, "u", 200, &ids, &n), 0);
  ck_assert_uint_eq(n, 1);
  ck_assert_str_eq(mp_mailstore_get(s, "u", ids[0])->data, "now");
  free(ids);
  ck_assert_int_eq(mp_mailstore_list(s, "u", 0, &ids, &n), 0);
  ck_assert_uint_eq(n, 0);
  ck_assert_ptr_null(ids);
  ck_assert_int_eq(mp_mailstore_list(s, "x", 0, &ids, &n), MP_E_MAILBOX_ERROR);
  ck_assert_uint_eq(mp_mailstore_count(s, "x", 0), 0);
  mp_mailstore_free(s);
}
END_TEST

START_TEST(delete_flag_then_expunge)
{
  struct mp_mailstore *s = mp_mailstore_new();
  uint64_t id[3], *ids;
  size_t n;
  mp_mailstore_add_user(s, "u");
  for (int i = 0; i < 3; i++)
    mp_mailstore_deliver(s, "u", "m", 1, 0, 0, &id[i]);
  ck_assert_int_eq(mp_mailstore_delete(s, "u", id[1]), 0);
  ck_assert_int_eq(mp_mailstore_delete(s, "u", 12345), MP_E_MAILBOX_ERROR);
  /* Flagged, still listed, no longer counted. */
  ck_assert_uint_eq(mp_mailstore_count(s, "u", 0), 2);
  mp_mailstore_list(s, "u", 0, &ids, &n);
  ck_assert_uint_eq(n, 3);
  free(ids);
  ck_assert(mp_mailstore_get(s, "u", id[1])->flags & MP_MAIL_DELETED);
  ck_assert_int_eq(
      mp_mailstore_set_flags(s, "u", id[0], MP_MAIL_SEEN | MP_MAIL_FLAGGED, 0),
      0);
  ck_assert_int_eq(mp_mailstore_set_flags(s, "u", id[0], 0, MP_MAIL_FLAGGED),
                   0);
  ck_assert_uint_eq(mp_mailstore_get(s, "u", id[0])->flags, MP_MAIL_SEEN);
  ck_assert_uint_eq(mp_mailstore_expunge(s, "u"), 1);
  ck_assert_ptr_null(mp_mailstore_get(s, "u", id[1]));
  ck_assert_ptr_nonnull(mp_mailstore_get(s, "u", id[2]));
  ck_assert_uint_eq(mp_mailstore_expunge(s, "u"), 0);
  ck_assert_int_eq(mp_mailstore_remove(s, "u", id[0]), 0);
  ck_assert_int_eq(mp_mailstore_remove(s, "u", id[0]), MP_E_MAILBOX_ERROR);
  mp_mailstore_list(s, "u", 0, &ids, &n);
  ck_assert_uint_eq(n, 1);
  ck_assert_uint_eq(ids[0], id[2]);
  free(ids);
  mp_mailstore_free(s);
}
END_TEST

static const size_t seed_sizes[] = {0, 1, 100, 150, 151, 152, 1000, 100000};

START_TEST(seed_sizes_table)
{
  struct mp_mailstore *s = mp_mailstore_new();
  uint64_t *ids;
  size_t n, size = seed_sizes[_i];
  mp_mailstore_add_user(s, "u@example.test");
  ck_assert_int_eq(mp_mailstore_seed(s, "u@example.test", 3, size, 7), 0);
  ck_assert_int_eq(mp_mailstore_seed(s, "nobody", 1, size, 7),
                   MP_E_MAILBOX_ERROR);
  ck_assert_uint_eq(mp_mailstore_count(s, "u@example.test", 7), 3);
  mp_mailstore_list(s, "u@example.test", 7, &ids, &n);
  ck_assert_uint_eq(n, 3);
  for (size_t i = 0; i < n; i++) {
    const struct mp_mail *m = mp_mailstore_get(s, "u@example.test", ids[i]);
    /* Exactly size bytes, unless the header alone is longer. */
    ck_assert_uint_ge(m->size, size);
    if (size >= 200)
      ck_assert_uint_eq(m->size, size);
    ck_assert_uint_eq(strlen(m->data), m->size);
    ck_assert_ptr_nonnull(strstr(m->data, "To: u@example.test\r\n"));
    ck_assert_ptr_nonnull(strstr(m->data, "\r\n\r\n"));
    /* No line is longer than 78 characters (RFC 5322 2.1.1). */
    const char *p = m->data;
    while (*p) {
      size_t l = strcspn(p, "\r\n");
      ck_assert_uint_le(l, 78);
      p += l;
      p += strspn(p, "\r\n");
    }
  }
  free(ids);
  mp_mailstore_free(s);
}
END_TEST

static Suite *mailstore_suite(void)
{
  Suite *s = suite_create("mailstore");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, users_are_case_insensitive_and_unique);
  tcase_add_loop_test(tc, lookup_table, 0,
                      (int)(sizeof(lookups) / sizeof(lookups[0])));
  tcase_add_test(tc, deliver_and_get);
  tcase_add_test(tc, deliver_take_keeps_the_buffer);
  tcase_add_test(tc, delayed_messages_are_hidden_until_visible);
  tcase_add_test(tc, delete_flag_then_expunge);
  tcase_add_test(tc, clear_is_as_new);
  tcase_add_loop_test(tc, seed_sizes_table, 0,
                      (int)(sizeof(seed_sizes) / sizeof(seed_sizes[0])));
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(mailstore_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
