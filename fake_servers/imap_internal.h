/* The fake IMAP server's insides, shared by fake_servers/imap*.c: the
 * session state, parsed arguments, and the helpers the command files use
 * (fi_ for "fake IMAP"). The server itself is fake_servers/imap.c. */
#ifndef MP_FAKE_IMAP_H
#define MP_FAKE_IMAP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fake_servers/session.h"

#define IMAP_MAX_LINE 65536 /* the conn's cap: past it the conn fails */
#define IMAP_MAX_CMD_LINE                                                      \
  16384                         /* one line of a command (RFC 9051 4:          \
                                   at least 8000 octets) */
#define IMAP_MAX_LITERAL 65536  /* one literal in a command */
#define IMAP_MAX_COMMAND 131072 /* a whole command, literals included */
#define IMAP_MAX_LITERALS 16    /* literals in one command */
#define IMAP_MAX_APPEND                                                        \
  10485760u /* one literal of APPEND: the fake SMTP server's 552 limit */
#define IMAP_MAX_TAG 64
#define IMAP_MAX_ERRORS 20
#define IMAP_MAX_RANGES 1024 /* ranges in one sequence set */
#define IMAP_MAX_ITEMS 32    /* FETCH items in one command */
#define IMAP_MAX_FIELDS 32   /* names in HEADER.FIELDS */
#define IMAP_MAX_DEPTH 32    /* nesting of SEARCH keys */
#define IMAP_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"

enum imap_state {
  IMAP_NOTAUTH = 0, /* RFC 9051 3.1 */
  IMAP_AUTH,        /* 3.2 */
  IMAP_SELECTED,    /* 3.3 */
  IMAP_LOGOUT       /* 3.4 */
};

/* What the next line is, unless a SASL exchange (AUTHENTICATE) is under
 * way: then it is a response (s->sasl is set). */
enum imap_mode {
  MODE_COMMAND = 0, /* a command, or its first line */
  MODE_LITERAL,     /* the rest of a command after a literal */
  MODE_IDLE         /* "DONE" ends IDLE */
};

/* The states a command is valid in (bits of enum imap_state). */
#define S_NA (1u << IMAP_NOTAUTH)
#define S_AU (1u << IMAP_AUTH)
#define S_SE (1u << IMAP_SELECTED)
#define S_ANY (S_NA | S_AU | S_SE)

/* A literal of the command being put together (RFC 9051 4.3). */
struct mp_fake_literal {
  char *buf;
  size_t len, want;
};

struct imap {
  enum imap_mode mode;
  char tag[IMAP_MAX_TAG + 1]; /* the command being answered ("" none) */
  unsigned commands;          /* command lines so far */
  char *user;                 /* logged in as, or NULL */
  /* The command being put together around its literals. */
  char *text;
  size_t text_len, text_cap;
  struct mp_fake_literal lits[IMAP_MAX_LITERALS];
  size_t nlits;
  size_t total;
  int append; /* the command is APPEND: its literals may be larger */
  /* The selected mailbox: its UIDs by sequence number (RFC 9051 2.3.1). */
  int read_only;
  uint64_t *uids;
  size_t nuids;
  uint64_t top_uid; /* the highest UID shown in this selection */
};

struct set {
  struct {
    uint64_t lo, hi;
  } r[IMAP_MAX_RANGES];
  size_t n;
};

/* "<tag> " and a formatted line. */
void fi_tagged(struct mp_fake_session *s, struct mp_fake_answer *a,
               const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A tagged BAD or NO that counts as a client error; at the cap the
 * session ends with BYE. */
void fi_client_error(struct mp_fake_session *s, struct mp_fake_answer *a,
                     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A string as an IMAP quoted string, or a literal when it cannot be one
 * (RFC 9051 4.3); NULL is NIL. */
void fi_put_nstring(struct mp_fake_answer *a, const char *str, size_t len);

/* A string as fi_put_nstring (never NIL). */
void fi_put_str(struct mp_fake_answer *a, const char *str);

/* printf onto the answer's current line. */
void fi_put_fmt(struct mp_fake_answer *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The mail store the session reads. */
struct mp_mailstore *fi_store(const struct mp_fake_session *s);

/* Message i (0-based) of the selected mailbox. */
const struct mp_mail *fi_mail_at(const struct mp_fake_session *s, size_t i);

/* "\\Seen \\Deleted" for a flag mask, into buf. */
void fi_flag_list(unsigned flags, char *buf, size_t cap);

/* 1 when the arguments are used up. */
int fi_at_end(const struct mp_fake_args *g);

/* One SP. */
int fi_arg_sp(struct mp_fake_args *g);

/* The character c, or -1. */
int fi_arg_char(struct mp_fake_args *g, char c);

/* ATOM-CHAR: any CHAR but atom-specials (RFC 9051 9). resp ']' is an
 * ASTRING-CHAR. */
int fi_atom_char(unsigned char c, int astring);

/* An atom into buf (at most cap - 1 bytes): its length, or -1. extra are
 * further characters allowed (list wildcards, sequence-set stars). */
int fi_arg_atom(struct mp_fake_args *g, char *buf, size_t cap, int astring,
                const char *extra);

/* A quoted string (RFC 9051 4.3): unescaped into a malloc'd copy. */
int fi_arg_quoted(struct mp_fake_args *g, char **out, size_t *len);

/* astring (atom, quoted or literal) or, with list, a list-mailbox with
 * wildcards: a malloc'd, NUL-terminated copy (literals may hold NULs:
 * *len says). */
int fi_arg_string(struct mp_fake_args *g, int list, char **out, size_t *len);

/* An astring without NULs. */
int fi_arg_astring(struct mp_fake_args *g, char **out);

/* A literal (RFC 9051 4.3), neither atom nor quoted: its index in the
 * command's literals. 0 or -1. */
int fi_arg_literal(struct mp_fake_args *g, size_t *index);

/* A number (RFC 9051 9: number64 is enough for us). */
int fi_arg_number(struct mp_fake_args *g, uint64_t *v);

/* Reads a sequence set, "*" standing for star. 0 or -1 (syntax). */
int fi_parse_set(struct mp_fake_args *g, uint64_t star, struct set *set);

/* Is v in the set? */
int fi_set_has(const struct set *set, uint64_t v);

/* A message set in the mode of the command: sequence numbers (each must
 * exist, RFC 9051 6.4.5 et al.: else BAD) or UIDs (missing ones are
 * ignored). 0 or -1. */
int fi_parse_msgset(struct mp_fake_session *s, struct mp_fake_args *g,
                    struct set *set);

/* SP and a message set (fi_parse_msgset), malloc'd; NULL with the
 * answer given: NO [SERVERBUG] when out of memory, else BAD Invalid
 * messageset (cmd names the command). */
struct set *fi_arg_msgset(struct mp_fake_session *s, struct mp_fake_args *g,
                          const char *cmd, struct mp_fake_answer *a);

/* Is message i (0-based) in the set? */
int fi_msg_in(const struct imap *m, const struct set *set, size_t i, int uid);

/* The header's length, with the blank line that ends it; the whole message
 * when it has no blank line. */
size_t fi_header_len(const struct mp_mail *mail);

/* Case-insensitive (ASCII) search of needle in hay, bytes. */
int fi_mem_icase_has(const char *hay, size_t hl, const char *needle, size_t nl);

/* RFC 9051 6.4.4 HEADER: a field of that name whose text contains the
 * string (case-insensitive); an empty string matches any such field. */
int fi_header_has(const struct mp_mail *mail, const char *name,
                  const char *value, size_t vlen);

/* The message's INTERNALDATE as wall-clock seconds: the date APPEND gave
 * it, else its arrival (the store keeps monotonic microseconds). */
time_t fi_arrived_wall(const struct mp_mail *mail);

/* "Jan" ... "Dec" (RFC 5322 dates, INTERNALDATE). */
extern const char *const fi_months[];

/* The selected mailbox catches up with the store: with expunges, "*
 * N EXPUNGE" for messages gone; then "* N EXISTS" for new arrivals. a may
 * be NULL (nothing said). */
void fi_view_refresh(struct mp_fake_session *s, struct mp_fake_answer *a,
                     int expunges);

/* "\Seen" ... -> MP_MAIL_SEEN ... (case-insensitive); 0 for any other. */
unsigned fi_flag_from_name(const char *name);

/* Is this mailbox name INBOX (case-insensitive, RFC 9051 5.1)? */
int fi_is_inbox(const char *name);

/* The selected mailbox is forgotten (imap_mailbox.c). */
void fi_view_clear(struct imap *m);

/* SELECT and EXAMINE (variant 1), LIST and LSUB, STATUS, STORE and UID
 * STORE, EXPUNGE and UID EXPUNGE, CLOSE and UNSELECT (variant 1)
 * (imap_mailbox.c). */
void fi_cmd_select(struct mp_fake_session *s, struct mp_fake_args *g,
                   struct mp_fake_answer *a);
void fi_cmd_list(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a);
void fi_cmd_status(struct mp_fake_session *s, struct mp_fake_args *g,
                   struct mp_fake_answer *a);
void fi_cmd_store(struct mp_fake_session *s, struct mp_fake_args *g,
                  struct mp_fake_answer *a);
void fi_cmd_expunge(struct mp_fake_session *s, struct mp_fake_args *g,
                    struct mp_fake_answer *a);
void fi_cmd_close(struct mp_fake_session *s, struct mp_fake_args *g,
                  struct mp_fake_answer *a);

/* The capability list for the session's state (RFC 9051 7.2.2): built-in
 * names less withhold, then advertise (imap_auth.c). */
void fi_capabilities(const struct mp_fake_session *s, char *buf, size_t cap);

/* The session is logged in as user (NULL: "") (imap_auth.c). */
void fi_logged_in(struct mp_fake_session *s, const char *user);

/* The IMAP frame of the SASL exchange (imap_auth.c). */
extern const struct mp_fake_sasl_frame fi_sasl;

/* STARTTLS, LOGIN and AUTHENTICATE (imap_auth.c). */
void fi_cmd_starttls(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a);
void fi_cmd_login(struct mp_fake_session *s, struct mp_fake_args *g,
                  struct mp_fake_answer *a);
void fi_cmd_authenticate(struct mp_fake_session *s, struct mp_fake_args *g,
                         struct mp_fake_answer *a);

/* APPEND, COPY and MOVE, also under UID (imap_append.c). */
void fi_cmd_append(struct mp_fake_session *s, struct mp_fake_args *g,
                   struct mp_fake_answer *a);
void fi_cmd_copy(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a);
void fi_cmd_move(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a);

/* FETCH and UID FETCH (imap_fetch.c). */
void fi_cmd_fetch(struct mp_fake_session *s, struct mp_fake_args *g,
                  struct mp_fake_answer *a);

/* SEARCH and UID SEARCH (imap_search.c). */
void fi_cmd_search(struct mp_fake_session *s, struct mp_fake_args *g,
                   struct mp_fake_answer *a);

#endif
