/* The one list of error names (docs/architecture.md "Results, phases and
 * error names").
 *
 * Functions that return int return 0 or one of these negative codes. The
 * names are a contract: case files and JSON output use them. MP_EAGAIN is not
 * an error: it means "need more input" (nginx keeps NGX_AGAIN apart). */
#ifndef MP_ERRORS_H
#define MP_ERRORS_H

#define MP_ERR_MAP(XX)                                                         \
  XX(DNS_FAILED, -101, "dns_failed", "name resolution failed")                 \
  XX(CONNECT_REFUSED, -102, "connect_refused", "connection refused")           \
  XX(CONNECT_TIMEOUT, -103, "connect_timeout", "connect timed out")            \
  XX(CONNECTION_CLOSED, -104, "connection_closed",                             \
     "the server closed the connection")                                       \
  XX(TIMEOUT, -105, "timeout", "the deadline passed")                          \
  XX(TLS_FAILED, -106, "tls_failed", "TLS handshake or record failure")        \
  XX(CERT_INVALID, -107, "cert_invalid",                                       \
     "the server certificate did not verify")                                  \
  XX(STARTTLS_UNSUPPORTED, -108, "starttls_unsupported",                       \
     "the server does not offer STARTTLS")                                     \
  XX(STARTTLS_REJECTED, -109, "starttls_rejected",                             \
     "the server refused STARTTLS")                                            \
  XX(AUTH_UNSUPPORTED, -110, "auth_unsupported",                               \
     "no login mechanism in common")                                           \
  XX(AUTH_FAILED, -111, "auth_failed", "the server refused the credentials")   \
  XX(AUTH_TLS_REQUIRED, -112, "auth_tls_required",                             \
     "login needs TLS and TLS is not allowed")                                 \
  XX(REJECTED, -113, "rejected", "the server answered with an error reply")    \
  XX(PROTOCOL_ERROR, -114, "protocol_error",                                   \
     "the server broke the protocol")                                          \
  XX(MESSAGE_NOT_DELIVERED, -115, "message_not_delivered",                     \
     "the test message did not arrive in time")                                \
  XX(MAILBOX_ERROR, -116, "mailbox_error", "the mailbox could not be read")    \
  XX(CONNECT_FAILED, -117, "connect_failed",                                   \
     "could not connect (network unreachable or similar)")                     \
  XX(NO_RESOURCES, -118, "no_resources",                                       \
     "out of local resources (descriptors or memory)")

enum mp_err {
  MP_OK = 0,
  MP_EAGAIN = -1, /* need more input: not an error */
#define MP_ERR_ENUM(code, val, name, msg) MP_E_##code = (val),
  MP_ERR_MAP(MP_ERR_ENUM)
#undef MP_ERR_ENUM
};

/* The contract name of an error ("timeout"), or NULL for 0 / unknown. */
const char *mp_err_name(int err);

/* A sentence for people ("the deadline passed"); never NULL. */
const char *mp_err_message(int err);

/* The code for a contract name, or 0 if the name is not one of ours. */
int mp_err_from_name(const char *name);

#endif
