# mailprobe: `make run` builds and runs the conformance suite; `make check`
# runs that plus every unit test. Objects go under $(BUILD).

BUILD ?= build
CC ?= cc
PKGS := libuv openssl yaml-0.1 libcares libgsasl libh2o libcrypt jansson \
	libcurl
PREFIX ?= /usr/local
DESTDIR ?=

OPT ?= -O2
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -I. -MMD -MP \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(SAN) $(CFLAGS)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

LIB_SRC := $(sort $(wildcard wire/*.c probes/*.c fake_servers/*.c harness/*/*.c))
LIB_SRC := $(filter-out harness/cli/main.c,$(LIB_SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/check_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
# Helpers the unit tests share (a stub DNS server, ...): tests/*.c that are
# not a suite of their own.
TEST_HELP_SRC := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
TEST_HELP_OBJ := $(TEST_HELP_SRC:%.c=$(BUILD)/%.o)
BIN := $(BUILD)/mailprobe
# Cases at once in `run`/`check` (the runner's own default is also 32);
# under valgrind, where every case costs CPU, fewer.
JOBS ?= 32
VALGRIND_JOBS ?= 16

# Keep test objects between runs (they are intermediates of the test rule).
.SECONDARY:

.PHONY: all deps run check suite unit cases limits asan valgrind interop clients \
	bench fuzz matrix clean install uninstall format

all: $(BIN)

# Installs missing Debian packages (no-op when all are there).
deps:
	@ci/install-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libmailprobe.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/harness/cli/main.o $(BUILD)/libmailprobe.a
	$(CC) $(SAN) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_HELP_OBJ) $(BUILD)/libmailprobe.a
	$(CC) $(SAN) -o $@ $^ $(LIBS) $(CHECK_LIBS)

# The conformance suite: every case file under cases/.
run: deps
	@$(MAKE) --no-print-directory all
	$(BIN) run cases --jobs $(JOBS)

cases: all
	$(BIN) run cases --jobs $(JOBS)

unit: $(TEST_BIN)
	@tests/run-unit $(TEST_BIN)

# Shell tests against the binary: descriptor limits, secrets (tests/limits).
limits: all
	@tests/limits/run $(BIN)

check: deps
	@$(MAKE) --no-print-directory suite

# Unit tests, cases and shell tests of what is built (no package check).
suite: all $(TEST_BIN)
	@tests/run-all $(BIN) $(JOBS) $(TEST_BIN)

# ASan + UBSan build in its own folder, then the whole suite.
asan:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  ASAN_OPTIONS=detect_leaks=1 suite

# Memory errors and leaks: the unit tests (which must pass) and the suite.
# Under valgrind the suite runs some 20x slower, so a case whose elapsed
# bounds it misses is reported but does not fail the target; a valgrind
# error (exit 99) does. --no-fork: the memory-bound cases run alone, one
# after another, as they need the CPU that valgrind takes.
valgrind: all $(TEST_BIN)
	@VALGRIND=1 tests/run-unit $(TEST_BIN)
	@rc=0; valgrind -q --error-exitcode=99 --leak-check=full \
	  --errors-for-leak-kinds=definite,indirect \
	  $(BIN) run cases --jobs $(VALGRIND_JOBS) --no-fork > $(BUILD)/valgrind-cases.log 2>&1 || rc=$$?; \
	grep -E '^(--- FAIL|==)' $(BUILD)/valgrind-cases.log; tail -n 1 $(BUILD)/valgrind-cases.log; \
	if [ $$rc -eq 99 ]; then echo "valgrind: memory errors ($(BUILD)/valgrind-cases.log)"; exit 1; fi; \
	if [ $$rc -ne 0 ]; then echo "valgrind: no memory errors; the cases above missed a timing bound under valgrind"; fi

interop: all
	ci/interop

# Real clients (curl, Python poplib/imaplib) against the fake servers.
clients: all
	@ci/install-deps --interop
	@for t in tests/clients/*.sh; do echo "==> $$t"; $$t $(BIN) || exit 1; done

# Benchmarks against real peers (ci/bench); writes docs/benchmarks.md.
bench: all
	-@ci/install-deps --bench
	MAILPROBE=$(BIN) ci/bench

# The catalogue against mailprobe and the third-party probes of
# cases/subjects/ (ci/matrix); writes docs/compliance.md and
# build/compliance.html and opens the report in headless Chromium.
matrix: all
	@ci/install-deps --subjects
	MAILPROBE=$(BIN) ci/matrix

# libFuzzer targets (clang): FUZZ_SECONDS per target, 0 only replays the
# seeds and saved reproducers; FUZZ_TARGETS picks some (default: all).
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?=
fuzz:
	@ci/install-deps --fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run $(FUZZ_TARGETS)

# The stripped binary, its man pages, bash completion and the example cases
# (share/mailprobe/cases); uninstall removes exactly these.
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/mailprobe
COMPDIR ?= $(PREFIX)/share/bash-completion/completions
STRIP ?= strip
INSTALL_BIN ?= $(BIN)
# The cases and the subject profiles (cases/subjects/, with the example
# probe's script beside its profile in cases/subjects/examples/).
CASE_DIRS := $(sort $(dir $(wildcard cases/*/*.yaml cases/*/*/*.yaml)))

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(COMPDIR)
	install -m 755 -s --strip-program=$(STRIP) $(INSTALL_BIN) \
	  $(DESTDIR)$(PREFIX)/bin/mailprobe
	install -m 644 dist/mailprobe.1 $(DESTDIR)$(MANDIR)/man1/mailprobe.1
	install -m 644 dist/mailprobe-cases.5 \
	  $(DESTDIR)$(MANDIR)/man5/mailprobe-cases.5
	install -m 644 dist/mailprobe.bash $(DESTDIR)$(COMPDIR)/mailprobe
	for d in $(CASE_DIRS); do \
	  install -d $(DESTDIR)$(DATADIR)/$$d && \
	  install -m 644 $$d*.yaml $(DESTDIR)$(DATADIR)/$$d || exit 1; \
	  for py in $$d*.py; do [ -e "$$py" ] || continue; \
	    install -m 755 "$$py" $(DESTDIR)$(DATADIR)/$$d || exit 1; done; \
	done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/mailprobe \
	  $(DESTDIR)$(MANDIR)/man1/mailprobe.1 \
	  $(DESTDIR)$(MANDIR)/man5/mailprobe-cases.5 \
	  $(DESTDIR)$(COMPDIR)/mailprobe
	rm -rf $(DESTDIR)$(DATADIR)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(BUILD)/harness/cli/main.d $(TEST_BIN:=.d) \
	$(TEST_HELP_OBJ:.o=.d)
