/* The one mail store shared by the SMTP, POP3 and IMAP fake servers of a
 * case: users, each with an INBOX of messages. The SMTP server delivers
 * into it; POP3 and IMAP list, read, flag and expunge from it.
 *
 * Pure: no event loop, no clock of its own. Times are microseconds on
 * whatever clock the caller uses (the servers pass mp_now_us()); a message
 * delivered with a delay carries "visible at" and is hidden from every
 * listing until the caller's now reaches it. Messages are named by an id
 * unique in the store and increasing with arrival, so it serves as an IMAP
 * UID; a session keeps ids, never pointers, so another session's expunge
 * cannot leave it dangling. */
#ifndef MP_MAILSTORE_H
#define MP_MAILSTORE_H

#include <stddef.h>
#include <stdint.h>

struct mp_mailstore;

/* Message flags (the IMAP system flags, RFC 9051 2.3.2). MP_MAIL_DELETED is
 * the "marked for deletion" flag that mp_mailstore_expunge() acts on. */
#define MP_MAIL_SEEN 0x01u
#define MP_MAIL_ANSWERED 0x02u
#define MP_MAIL_FLAGGED 0x04u
#define MP_MAIL_DELETED 0x08u
#define MP_MAIL_DRAFT 0x10u

struct mp_mail {
  uint64_t id;         /* unique in the store, increasing (1, 2, ...) */
  char *data;          /* the message as on the wire, CRLF lines; NUL after
                          the last byte for convenience (not counted) */
  size_t size;         /* bytes of data */
  uint64_t arrived_us; /* when it was delivered (caller's clock) */
  uint64_t visible_us; /* hidden from listings until then */
  unsigned flags;      /* MP_MAIL_* */
  int dated;           /* date_s holds the message's date (IMAP APPEND) */
  int64_t date_s;      /* wall-clock seconds; when dated, the INTERNALDATE */
};

/* An empty store. NULL when out of memory. */
struct mp_mailstore *mp_mailstore_new(void);

/* Frees the store and every message (NULL is fine). */
void mp_mailstore_free(struct mp_mailstore *s);

/* Empties the store as mp_mailstore_new made it: no user, no message, ids
 * from 1 again, under a new UIDVALIDITY (RFC 9051 2.3.1.1: ids that
 * repeat need one). */
void mp_mailstore_clear(struct mp_mailstore *s);

/* Adds a user with an empty INBOX; adding one that exists is a no-op.
 * Names compare case-insensitively. 0 or MP_E_NO_RESOURCES. */
int mp_mailstore_add_user(struct mp_mailstore *s, const char *user);

/* 1 if the user exists. */
int mp_mailstore_has_user(const struct mp_mailstore *s, const char *user);

/* Users in the store. */
size_t mp_mailstore_users(const struct mp_mailstore *s);

/* Finds the user a recipient address delivers to: the user of that name,
 * or else, for a user name without '@', the address's local part
 * ("probe@example.test" reaches user "probe"). The store's spelling of the
 * name, or NULL. */
const char *mp_mailstore_lookup(const struct mp_mailstore *s,
                                const char *address);

/* Appends a copy of len bytes to the user's INBOX, arriving at now_us and
 * visible from visible_us on. *id (may be NULL) receives its id. 0,
 * MP_E_MAILBOX_ERROR (no such user) or MP_E_NO_RESOURCES. */
int mp_mailstore_deliver(struct mp_mailstore *s, const char *user,
                         const void *data, size_t len, uint64_t now_us,
                         uint64_t visible_us, uint64_t *id);

/* As mp_mailstore_deliver, but the store keeps data itself instead of a
 * copy: data is malloc'd with len + 1 bytes, data[len] == '\0'. On
 * success the store owns it; on failure the caller still does. */
int mp_mailstore_deliver_take(struct mp_mailstore *s, const char *user,
                              char *data, size_t len, uint64_t now_us,
                              uint64_t visible_us, uint64_t *id);

/* Seeds count generated messages of exactly size bytes each (at least a
 * minimal header block: smaller sizes are rounded up to it), visible at
 * once. 0 or a negative code as mp_mailstore_deliver. */
int mp_mailstore_seed(struct mp_mailstore *s, const char *user, unsigned count,
                      size_t size, uint64_t now_us);

/* Messages visible at now_us and not flagged MP_MAIL_DELETED (what a new
 * POP3 session would find). 0 for an unknown user. */
size_t mp_mailstore_count(const struct mp_mailstore *s, const char *user,
                          uint64_t now_us);

/* The ids of every message visible at now_us, flagged deleted or not, in
 * arrival order, into a malloc'd array the caller frees (*ids = NULL when
 * there are none). 0, MP_E_MAILBOX_ERROR or MP_E_NO_RESOURCES. */
int mp_mailstore_list(const struct mp_mailstore *s, const char *user,
                      uint64_t now_us, uint64_t **ids, size_t *n);

/* A message by id, or NULL when it is gone (expunged, or no such user).
 * Valid until the next call that removes messages. */
const struct mp_mail *mp_mailstore_get(const struct mp_mailstore *s,
                                       const char *user, uint64_t id);

/* Sets and clears flags on a message: 0 or MP_E_MAILBOX_ERROR. */
int mp_mailstore_set_flags(struct mp_mailstore *s, const char *user,
                           uint64_t id, unsigned set, unsigned clear);

/* Dates a message (IMAP APPEND's date-time, RFC 9051 6.3.12): wall-clock
 * seconds, which arrived_us cannot hold (a date may precede the caller's
 * clock's zero). 0 or MP_E_MAILBOX_ERROR. */
int mp_mailstore_set_date(struct mp_mailstore *s, const char *user, uint64_t id,
                          int64_t date_s);

/* Marks a message deleted (MP_MAIL_DELETED): 0 or MP_E_MAILBOX_ERROR. */
int mp_mailstore_delete(struct mp_mailstore *s, const char *user, uint64_t id);

/* Removes one message now (POP3's UPDATE state, RFC 1939 6): 0 or
 * MP_E_MAILBOX_ERROR. */
int mp_mailstore_remove(struct mp_mailstore *s, const char *user, uint64_t id);

/* Removes every message flagged deleted; returns how many. */
size_t mp_mailstore_expunge(struct mp_mailstore *s, const char *user);

/* The next id the store will give (IMAP UIDNEXT) and a constant for the
 * store's life (IMAP UIDVALIDITY). */
uint64_t mp_mailstore_next_id(const struct mp_mailstore *s);
uint32_t mp_mailstore_validity(const struct mp_mailstore *s);

#endif
