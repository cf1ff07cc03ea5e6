/* err.c - descriptions of the VEX_E* codes. */
#include "core/err.h"

const char *vex_strerror(int code)
{
    switch (code) {
    case VEX_OK:
        return "ok";
#define VEX_ERR_CASE(name, c, text) \
    case VEX_##name:                \
        return text;
        VEX_ERRNO_MAP(VEX_ERR_CASE)
#undef VEX_ERR_CASE
    }
    return "unknown error";
}
