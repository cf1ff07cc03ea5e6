/* err.h - the one error-code table of vex.
 *
 * Fallible functions return 0 or a negative VEX_E* code. vex_strerror() turns a
 * code into a short sentence for logs and CLI messages. */
#ifndef VEX_CORE_ERR_H
#define VEX_CORE_ERR_H

#define VEX_ERRNO_MAP(X)                                   \
    X(EINVAL, -1, "invalid argument")                      \
    X(ENOMEM, -2, "out of memory")                         \
    X(EIO, -3, "input/output error")                       \
    X(ECORRUPT, -4, "corrupt data")                        \
    X(ENOENT, -5, "not found")                             \
    X(EEXIST, -6, "already exists")                        \
    X(EFULL, -7, "capacity exceeded")                      \
    X(EAUTH, -8, "authentication failed")                  \
    X(EPERM, -9, "permission denied")                      \
    X(EBUSY, -10, "resource busy")                         \
    X(EUNAVAIL, -11, "service unavailable")                \
    X(ETOOBIG, -12, "too large")                           \
    X(ETHROTTLE, -13, "too many attempts")

enum vex_err {
    VEX_OK = 0,
#define VEX_ERR_ENUM(name, code, text) VEX_##name = code,
    VEX_ERRNO_MAP(VEX_ERR_ENUM)
#undef VEX_ERR_ENUM
};

/* vex_strerror returns a static description of a VEX_E* code (or "ok"). */
const char *vex_strerror(int code);

#endif
