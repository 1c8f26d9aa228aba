/* `--shard I/N`: a stable split of the catalogue by case path, so that N
 * machines of a CI matrix each run one part and every case runs in
 * exactly one of them. Pure. */
#ifndef MP_SHARD_H
#define MP_SHARD_H

/* "I/N" with 1 <= I <= N <= 10000; 0, or -1 when malformed. */
int mp_shard_parse(const char *s, unsigned *i, unsigned *n);

/* The shard (1..n) a case path belongs to: FNV-1a over the path without
 * a leading "./", so the split does not depend on order, count or the
 * machine. */
unsigned mp_shard_of(const char *path, unsigned n);

#endif
