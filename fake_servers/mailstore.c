/* The shared mail store of a case's fake servers (mailstore.h). Small by
 * design: a few users with a few messages each, kept in plain arrays. */
#include "fake_servers/mailstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "wire/errors.h"

struct box {
  char *user;
  struct mp_mail *mail; /* arrival order */
  size_t n, cap;
};

struct mp_mailstore {
  struct box *boxes;
  size_t n, cap;
  uint64_t next_id;
  uint32_t validity;
};

struct mp_mailstore *mp_mailstore_new(void)
{
  struct mp_mailstore *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->next_id = 1;
  /* RFC 9051 2.3.1.1: a new value whenever ids could repeat; a store lives
   * for one case, so the wall clock at creation is enough. */
  s->validity = (uint32_t)time(NULL);
  if (s->validity == 0)
    s->validity = 1;
  return s;
}

static void box_free(struct box *b)
{
  for (size_t i = 0; i < b->n; i++)
    free(b->mail[i].data);
  free(b->mail);
  free(b->user);
}

void mp_mailstore_free(struct mp_mailstore *s)
{
  if (!s)
    return;
  mp_mailstore_clear(s);
  free(s->boxes);
  free(s);
}

void mp_mailstore_clear(struct mp_mailstore *s)
{
  for (size_t i = 0; i < s->n; i++)
    box_free(&s->boxes[i]);
  s->n = 0;
  s->next_id = 1;
  /* RFC 9051 2.3.1.1: ids repeat from here, so a new UIDVALIDITY. */
  if (++s->validity == 0)
    s->validity = 1;
}

/* An array of n elements of size elem, with room for *cap, made room for
 * one more (doubling, first to min): the array, or NULL when out of
 * memory (the old one stays as it was). */
static void *grow(void *array, size_t n, size_t *cap, size_t elem, size_t min)
{
  if (n < *cap)
    return array;
  size_t want = *cap ? *cap * 2 : min;
  void *p = realloc(array, want * elem);
  if (p)
    *cap = want;
  return p;
}

static struct box *find_box(const struct mp_mailstore *s, const char *user)
{
  if (!user)
    return NULL;
  for (size_t i = 0; i < s->n; i++)
    if (strcasecmp(s->boxes[i].user, user) == 0)
      return &s->boxes[i];
  return NULL;
}

int mp_mailstore_add_user(struct mp_mailstore *s, const char *user)
{
  if (find_box(s, user))
    return 0;
  struct box *boxes = grow(s->boxes, s->n, &s->cap, sizeof(*boxes), 4);
  if (!boxes)
    return MP_E_NO_RESOURCES;
  s->boxes = boxes;
  struct box *b = &s->boxes[s->n];
  memset(b, 0, sizeof(*b));
  b->user = strdup(user);
  if (!b->user)
    return MP_E_NO_RESOURCES;
  s->n++;
  return 0;
}

int mp_mailstore_has_user(const struct mp_mailstore *s, const char *user)
{
  return find_box(s, user) != NULL;
}

size_t mp_mailstore_users(const struct mp_mailstore *s)
{
  return s->n;
}

const char *mp_mailstore_lookup(const struct mp_mailstore *s,
                                const char *address)
{
  struct box *b = find_box(s, address);
  if (b)
    return b->user;
  const char *at = address ? strrchr(address, '@') : NULL;
  if (!at)
    return NULL;
  size_t local = (size_t)(at - address);
  for (size_t i = 0; i < s->n; i++) {
    const char *u = s->boxes[i].user;
    if (!strchr(u, '@') && strlen(u) == local &&
        strncasecmp(u, address, local) == 0)
      return u;
  }
  return NULL;
}

int mp_mailstore_deliver_take(struct mp_mailstore *s, const char *user,
                              char *data, size_t len, uint64_t now_us,
                              uint64_t visible_us, uint64_t *id)
{
  struct box *b = find_box(s, user);
  if (!b)
    return MP_E_MAILBOX_ERROR;
  struct mp_mail *mail = grow(b->mail, b->n, &b->cap, sizeof(*mail), 8);
  if (!mail)
    return MP_E_NO_RESOURCES;
  b->mail = mail;
  struct mp_mail *m = &b->mail[b->n++];
  m->id = s->next_id++;
  m->data = data;
  m->size = len;
  m->arrived_us = now_us;
  m->visible_us = visible_us;
  m->flags = 0;
  m->dated = 0;
  m->date_s = 0;
  if (id)
    *id = m->id;
  return 0;
}

int mp_mailstore_deliver(struct mp_mailstore *s, const char *user,
                         const void *data, size_t len, uint64_t now_us,
                         uint64_t visible_us, uint64_t *id)
{
  char *copy = malloc(len + 1);
  if (!copy)
    return MP_E_NO_RESOURCES;
  if (len)
    memcpy(copy, data, len);
  copy[len] = '\0';
  int rc =
      mp_mailstore_deliver_take(s, user, copy, len, now_us, visible_us, id);
  if (rc < 0)
    free(copy);
  return rc;
}

/* Builds a message of exactly size bytes (or the header block alone when
 * size is smaller): headers, a blank line, then body lines of at most 76
 * characters, every line ending in CRLF where room allows. */
static char *make_message(const char *user, unsigned n, size_t size,
                          size_t *len)
{
  char head[512];
  int h = snprintf(head, sizeof(head),
                   "From: seed@example.test\r\n"
                   "To: %s\r\n"
                   "Subject: seeded message %u\r\n"
                   "Message-ID: <seed-%u@example.test>\r\n"
                   "\r\n",
                   user, n, n);
  if (h < 0 || (size_t)h >= sizeof(head))
    h = (int)strlen(head);
  size_t total = size > (size_t)h ? size : (size_t)h;
  char *buf = malloc(total + 1);
  if (!buf)
    return NULL;
  memcpy(buf, head, (size_t)h);
  /* The letter at offset at is 'a' + (at + n) % 26: a line's letters are
   * one copy out of the alphabet written out past a line's length. */
  static const char abc[] = "abcdefghijklmnopqrstuvwxyz"
                            "abcdefghijklmnopqrstuvwxyz"
                            "abcdefghijklmnopqrstuvwxyz"
                            "abcdefghijklmnopqrstuvwxyz";
  size_t at = (size_t)h;
  size_t col = 0;
  while (at < total) {
    size_t left = total - at;
    /* End a line at 76 columns, or when only CRLF still fits. */
    if (left >= 2 && (col == 76 || left == 2)) {
      buf[at++] = '\r';
      buf[at++] = '\n';
      col = 0;
      continue;
    }
    /* Letters up to the line's end; a last odd byte has no CRLF room. */
    size_t k = left < 2 ? left : left - 2 < 76 - col ? left - 2 : 76 - col;
    memcpy(buf + at, abc + (at + n) % 26, k);
    at += k;
    col += k;
  }
  buf[total] = '\0';
  *len = total;
  return buf;
}

int mp_mailstore_seed(struct mp_mailstore *s, const char *user, unsigned count,
                      size_t size, uint64_t now_us)
{
  if (!find_box(s, user))
    return MP_E_MAILBOX_ERROR;
  for (unsigned i = 0; i < count; i++) {
    size_t len;
    char *m = make_message(user, i + 1, size, &len);
    if (!m)
      return MP_E_NO_RESOURCES;
    int rc = mp_mailstore_deliver_take(s, user, m, len, now_us, now_us, NULL);
    if (rc < 0) {
      free(m);
      return rc;
    }
  }
  return 0;
}

size_t mp_mailstore_count(const struct mp_mailstore *s, const char *user,
                          uint64_t now_us)
{
  struct box *b = find_box(s, user);
  size_t n = 0;
  for (size_t i = 0; b && i < b->n; i++)
    if (b->mail[i].visible_us <= now_us &&
        !(b->mail[i].flags & MP_MAIL_DELETED))
      n++;
  return n;
}

int mp_mailstore_list(const struct mp_mailstore *s, const char *user,
                      uint64_t now_us, uint64_t **ids, size_t *n)
{
  struct box *b = find_box(s, user);
  *ids = NULL;
  *n = 0;
  if (!b)
    return MP_E_MAILBOX_ERROR;
  size_t k = 0;
  for (size_t i = 0; i < b->n; i++)
    if (b->mail[i].visible_us <= now_us)
      k++;
  if (k == 0)
    return 0;
  uint64_t *out = malloc(k * sizeof(*out));
  if (!out)
    return MP_E_NO_RESOURCES;
  k = 0;
  for (size_t i = 0; i < b->n; i++)
    if (b->mail[i].visible_us <= now_us)
      out[k++] = b->mail[i].id;
  *ids = out;
  *n = k;
  return 0;
}

/* The index of id in b, or -1. Ids increase with the index: bisect. */
static long find_mail(const struct box *b, uint64_t id)
{
  size_t lo = 0, hi = b->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (b->mail[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < b->n && b->mail[lo].id == id ? (long)lo : -1;
}

const struct mp_mail *mp_mailstore_get(const struct mp_mailstore *s,
                                       const char *user, uint64_t id)
{
  struct box *b = find_box(s, user);
  if (!b)
    return NULL;
  long i = find_mail(b, id);
  return i < 0 ? NULL : &b->mail[i];
}

int mp_mailstore_set_flags(struct mp_mailstore *s, const char *user,
                           uint64_t id, unsigned set, unsigned clear)
{
  struct box *b = find_box(s, user);
  long i = b ? find_mail(b, id) : -1;
  if (i < 0)
    return MP_E_MAILBOX_ERROR;
  b->mail[i].flags = (b->mail[i].flags & ~clear) | set;
  return 0;
}

int mp_mailstore_set_date(struct mp_mailstore *s, const char *user, uint64_t id,
                          int64_t date_s)
{
  struct box *b = find_box(s, user);
  long i = b ? find_mail(b, id) : -1;
  if (i < 0)
    return MP_E_MAILBOX_ERROR;
  b->mail[i].dated = 1;
  b->mail[i].date_s = date_s;
  return 0;
}

int mp_mailstore_delete(struct mp_mailstore *s, const char *user, uint64_t id)
{
  return mp_mailstore_set_flags(s, user, id, MP_MAIL_DELETED, 0);
}

int mp_mailstore_remove(struct mp_mailstore *s, const char *user, uint64_t id)
{
  struct box *b = find_box(s, user);
  long i = b ? find_mail(b, id) : -1;
  if (i < 0)
    return MP_E_MAILBOX_ERROR;
  free(b->mail[i].data);
  memmove(&b->mail[i], &b->mail[i + 1],
          (b->n - (size_t)i - 1) * sizeof(b->mail[0]));
  b->n--;
  return 0;
}

size_t mp_mailstore_expunge(struct mp_mailstore *s, const char *user)
{
  struct box *b = find_box(s, user);
  if (!b)
    return 0;
  size_t kept = 0, gone = 0;
  for (size_t i = 0; i < b->n; i++) {
    if (b->mail[i].flags & MP_MAIL_DELETED) {
      free(b->mail[i].data);
      gone++;
    } else {
      b->mail[kept++] = b->mail[i];
    }
  }
  b->n = kept;
  return gone;
}

uint64_t mp_mailstore_next_id(const struct mp_mailstore *s)
{
  return s->next_id;
}

uint32_t mp_mailstore_validity(const struct mp_mailstore *s)
{
  return s->validity;
}
