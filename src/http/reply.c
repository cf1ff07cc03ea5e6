/* reply.c - JSON replies and form decoding for handlers. */
#include "http/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vex_http_reply_raw(struct vex_http_response *resp, int status, const char *content_type,
                        char *body, size_t len)
{
    free(resp->body);
    resp->status = status;
    resp->content_type = content_type;
    resp->body = body;
    resp->body_len = len;
}

void vex_http_add_header(struct vex_http_response *resp, const char *name, const char *value)
{
    if (resp->nheaders >= VEX_HTTP_MAX_HEADERS)
        return;
    snprintf(resp->headers[resp->nheaders].name, sizeof resp->headers[0].name, "%s", name);
    snprintf(resp->headers[resp->nheaders].value, sizeof resp->headers[0].value, "%s", value);
    resp->nheaders++;
}

void vex_http_reply_json(struct vex_http_response *resp, int status, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(obj);
    if (!s) {
        static const char oom[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}";
        s = strdup(oom);
        status = 500;
        if (!s) {
            vex_http_reply_raw(resp, 500, "application/json", NULL, 0);
            return;
        }
    }
    vex_http_reply_raw(resp, status, "application/json", s, strlen(s));
}

void vex_http_reply_error(struct vex_http_response *resp, int status, const char *code,
                          const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vex_http_reply_json(resp, status, json_pack("{s:s,s:s}", "error", code, "message", msg));
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *vex_http_url_decode(const char *src, size_t len, int plus_is_space, size_t *out_len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= len || (h = hexval((unsigned char)src[i + 1])) < 0 ||
                (l = hexval((unsigned char)src[i + 2])) < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

char *vex_http_form_get(const char *form, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && form[end] != '&')
            end++;
        const char *eq = memchr(form + i, '=', end - i);
        size_t klen = eq ? (size_t)(eq - (form + i)) : end - i;
        if (klen == nlen && memcmp(form + i, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : form + end;
            return vex_http_url_decode(v, (size_t)(form + end - v), 1, NULL);
        }
        i = end + 1;
    }
    return NULL;
}
