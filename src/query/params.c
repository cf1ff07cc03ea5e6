/* params.c - the query string of the metrics API (SPEC 4.1, 4.7) into a
 * struct vex_query.
 *
 * One table names the parameters; the string is split on `&`, each name is
 * decoded and looked up (unknown or repeated: 400), each value is decoded
 * whole (`+` is a space) except `filter`, which filter.c splits before
 * decoding. An empty value is the same as an absent parameter.
 *
 * Error codes (the `error` of the SPEC section 6 JSON body):
 *   unknown_parameter    a parameter the API does not have
 *   duplicate_parameter  a parameter given twice
 *   missing_parameter    period, metrics, or planlevel on a legacy path
 *   bad_parameter        a malformed %-escape, a %00, a bad sessiontype or
 *                        allstatus
 *   bad_planlevel        planlevel is not an integer
 *   bad_period           period is not start=S,end=E with S < E <= S + 400 d
 *   bad_granularity      not minute, 5minute, 10minute, hour, day or auto
 *   bad_aggby            a group key that is not a dimension, timestamp or
 *                        sessionid; other than sessionid on listsessions
 *   bad_dimension        dimension is not all, microscope or a dimension
 *   unknown_metric       a name in metrics that is nothing the API knows
 *   bad_metrics          an empty name, or a per-session field without
 *                        sessionid as a group key
 *   bad_orderby          orderby is not an output column
 *   bad_order            orderas/order not ASC/DESC, or the two disagree
 *   bad_limit            limit not in 1..10000
 *   bad_offset           offset not an integer >= 0
 *   bad_filter           (filter.c)
 *   bad_qoefilter        (filter.c) */
#include "query/query_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

enum param {
    P_PLANLEVEL,
    P_PERIOD,
    P_METRICS,
    P_AGGBY,
    P_DIMENSION,
    P_GRANULARITY,
    P_FILTER,
    P_QOEFILTER,
    P_SESSIONTYPE,
    P_ALLSTATUS,
    P_ORDERBY,
    P_ORDERAS,
    P_ORDER,
    P_LIMIT,
    P_OFFSET,
    /* accepted and ignored (SPEC 4.1) */
    P_AGG,
    P_COUNT,
    P_BUSINESSERROR,
    P_CONCURRENCY,
    P__N
};

static const char *const param_names[P__N] = {
    "planlevel", "period",   "metrics", "aggby",  "dimension", "granularity", "filter",
    "qoefilter", "sessiontype", "allstatus", "orderby", "orderas", "order",   "limit",
    "offset",    "agg",      "count",   "businesserror", "concurrency",
};

struct pval {
    int given;
    const char *raw; /* still encoded, into the caller's string */
    size_t rawlen;
    char *val; /* decoded (not for filter and the ignored ones) */
    size_t len;
};

static const struct {
    const char *name;
    int id;
} field_names[] = {
    {"ipaddress", VEX_QF_IPADDRESS}, {"timestamp", VEX_QF_TIMESTAMP},
    {"starttime", VEX_QF_STARTTIME}, {"endtime", VEX_QF_ENDTIME},
    {"watchtime", VEX_QF_WATCHTIME}, {"assetname", VEX_QF_ASSETNAME},
    {"status", VEX_QF_STATUS},
};

#define MAX_EPOCH_S 9007199254740LL /* 2^53 ms, in seconds */
#define MAX_SPAN_S (400LL * 86400)

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *vex_params_decode(struct vex_qmem *m, const char *s, size_t len, size_t *out_len,
                        int *nomem)
{
    *nomem = 0;
    char *out = vex_qmem_alloc(m, len + 1);
    if (!out) {
        *nomem = 1;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            int h, l;
            if (i + 2 >= len)
                return NULL;
            if ((h = hexval((unsigned char)s[i + 1])) < 0 ||
                (l = hexval((unsigned char)s[i + 2])) < 0)
                return NULL;
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else if (s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

/* parse_int reads a whole decimal integer (a leading '-' only when neg_ok). */
static int parse_int(const char *s, int neg_ok, int64_t *out)
{
    int neg = 0;
    if (*s == '-' && neg_ok) {
        neg = 1;
        s++;
    }
    if (*s == '\0')
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (UINT64_C(1) << 62) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int parse_period(const char *v, int64_t *s_out, int64_t *e_out,
                        struct vex_query_error *err)
{
    int64_t vals[2] = {-1, -1};
    const char *p = v;
    for (int i = 0; i < 2; i++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int which = -1;
        size_t nlen = 0;
        if (len > 6 && memcmp(p, "start=", 6) == 0) {
            which = 0;
            nlen = 6;
        } else if (len > 4 && memcmp(p, "end=", 4) == 0) {
            which = 1;
            nlen = 4;
        }
        char num[24];
        int64_t x;
        if (which < 0 || vals[which] >= 0 || len - nlen >= sizeof num)
            goto bad;
        memcpy(num, p + nlen, len - nlen);
        num[len - nlen] = '\0';
        if (parse_int(num, 0, &x) || x > MAX_EPOCH_S)
            goto bad;
        vals[which] = x;
        if (i == 0) {
            if (!comma)
                goto bad;
            p = comma + 1;
        } else if (comma) {
            goto bad;
        }
    }
    if (vals[0] >= vals[1])
        return vex_query_seterr(err, "bad_period",
                                "period start (%lld) must be before its end (%lld)",
                                (long long)vals[0], (long long)vals[1]);
    if (vals[1] - vals[0] > MAX_SPAN_S)
        return vex_query_seterr(err, "bad_period",
                                "period spans %lld s; at most 400 days (34560000 s) are allowed",
                                (long long)(vals[1] - vals[0]));
    *s_out = vals[0];
    *e_out = vals[1];
    return 0;
bad:
    return vex_query_seterr(err, "bad_period",
                            "period must be start=S,end=E with S and E integer epoch seconds, "
                            "e.g. period=start=1709510400,end=1710115200 (got '%.80s')",
                            v);
}

static int has_key(const struct vex_query *q, int kind, int dim)
{
    for (int i = 0; i < q->nkeys; i++) {
        if (q->keys[i].kind == kind && (kind != VEX_QKEY_DIM || q->keys[i].dim == dim))
            return 1;
    }
    return 0;
}

static void add_key(struct vex_query *q, int kind, int dim)
{
    /* At most 13 dimensions + timestamp + sessionid distinct keys exist, so
     * the array never fills. */
    if (has_key(q, kind, dim) || q->nkeys == VEX_Q_MAXKEYS)
        return;
    q->keys[q->nkeys].kind = kind;
    q->keys[q->nkeys].dim = kind == VEX_QKEY_DIM ? dim : -1;
    q->nkeys++;
}

static const char *key_name(const struct vex_qkey *k)
{
    if (k->kind == VEX_QKEY_TIMESTAMP)
        return "timestamp";
    if (k->kind == VEX_QKEY_SESSIONID)
        return "sessionid";
    return vex_qdim_name(k->dim);
}

static int find_col(const struct vex_query *q, const char *name)
{
    for (int i = 0; i < q->ncols; i++) {
        if (strcmp(q->cols[i].name, name) == 0)
            return i;
    }
    return -1;
}

static int add_col(struct vex_query *q, const char *name, int kind, int id,
                   struct vex_query_error *err)
{
    if (find_col(q, name) >= 0)
        return 0;
    if (q->ncols == VEX_Q_MAXCOLS)
        return vex_query_seterr(err, "bad_metrics", "metrics names too many columns");
    q->cols[q->ncols].name = name;
    q->cols[q->ncols].kind = kind;
    q->cols[q->ncols].id = id;
    q->ncols++;
    if (kind == VEX_QCOL_METRIC)
        q->metric_mask |= 1u << id;
    else
        q->field_mask |= 1u << id;
    return 0;
}

/* split_next returns the next comma-separated item of *p (NUL-terminated)
 * and its length in *len, advancing *p; NULL at the end. */
static const char *split_next(const char **p, size_t *len)
{
    if (!*p)
        return NULL;
    const char *s = *p;
    const char *comma = strchr(s, ',');
    *len = comma ? (size_t)(comma - s) : strlen(s);
    *p = comma ? comma + 1 : NULL;
    return s;
}

static int parse_aggby(struct vex_query *q, const char *v, struct vex_query_error *err)
{
    const char *p = v, *s;
    size_t len;
    while ((s = split_next(&p, &len))) {
        int dim = -1, kind;
        if (len == 9 && memcmp(s, "timestamp", 9) == 0)
            kind = VEX_QKEY_TIMESTAMP;
        else if (len == 9 && memcmp(s, "sessionid", 9) == 0)
            kind = VEX_QKEY_SESSIONID;
        else if ((dim = vex_qdim_lookup(s, len)) >= 0)
            kind = VEX_QKEY_DIM;
        else
            return vex_query_seterr(err, "bad_aggby",
                                    "aggby names '%.*s', which is not a dimension, timestamp or "
                                    "sessionid",
                                    (int)(len > 64 ? 64 : len), s);
        if (q->ep == VEX_EP_LISTSESSIONS && kind != VEX_QKEY_SESSIONID)
            return vex_query_seterr(err, "bad_aggby",
                                    "listsessions has one row per session: aggby may only be "
                                    "sessionid (leave it out); use /mm-apis/metricquery to "
                                    "group by '%.*s'",
                                    (int)(len > 64 ? 64 : len), s);
        add_key(q, kind, dim);
    }
    return 0;
}

static int lookup_field(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof field_names / sizeof field_names[0]; i++) {
        if (strlen(field_names[i].name) == len && memcmp(field_names[i].name, s, len) == 0)
            return field_names[i].id;
    }
    return -1;
}

/* parse_metrics reads the names of `metrics`: dimensions become group keys
 * (first pass), everything else a column in the order written (second pass,
 * once the keys are known). */
static int parse_metrics(struct vex_query *q, const char *v, struct vex_query_error *err)
{
    const char *p = v, *s;
    size_t len;
    int has_sid = has_key(q, VEX_QKEY_SESSIONID, -1);
    int has_ts = has_key(q, VEX_QKEY_TIMESTAMP, -1);
    for (int pass = 0; pass < 2; pass++) {
        p = v;
        while ((s = split_next(&p, &len))) {
            if (len == 0)
                return vex_query_seterr(err, "bad_metrics",
                                        "metrics has an empty name; write comma-separated "
                                        "names such as metrics=attempts,viewercount");
            int dim = vex_qdim_lookup(s, len);
            if (pass == 0) {
                if (dim >= 0)
                    add_key(q, VEX_QKEY_DIM, dim);
                continue;
            }
            if (dim >= 0)
                continue;
            int field = lookup_field(s, len);
            int is_sid = len == 9 && memcmp(s, "sessionid", 9) == 0;
            if (is_sid || field >= 0) {
                /* Naming a group key only echoes it (SPEC 4.7). */
                if (is_sid && has_sid)
                    continue;
                if (field == VEX_QF_TIMESTAMP && has_ts)
                    continue;
                if (!has_sid)
                    return vex_query_seterr(err, "bad_metrics",
                                            "'%.*s' is a per-session field: it needs sessionid "
                                            "as a group key (aggby=sessionid, "
                                            "dimension=microscope, or /mm-apis/listsessions)",
                                            (int)len, s);
                if (is_sid)
                    continue;
                int rc = add_col(q, field_names[field].name, VEX_QCOL_FIELD, field, err);
                if (rc)
                    return rc;
                continue;
            }
            int m = vex_metric_lookup(s, len);
            if (m < 0)
                return vex_query_seterr(err, "unknown_metric",
                                        "metrics names '%.*s', which is neither a metric, a "
                                        "per-session field nor a dimension (see "
                                        "docs/metrics.md)",
                                        (int)(len > 64 ? 64 : len), s);
            char *name = vex_qmem_strndup(q->mem, s, len);
            if (!name)
                return VEX_ENOMEM;
            int rc = add_col(q, name, VEX_QCOL_METRIC, m, err);
            if (rc)
                return rc;
        }
    }
    /* Companions follow the requested names, in the order of the metrics
     * that bring them, each once. */
    int nreq = q->ncols;
    for (int i = 0; i < nreq; i++) {
        int comp[3];
        if (q->cols[i].kind != VEX_QCOL_METRIC)
            continue;
        int n = vex_metric_companions(q->cols[i].id, comp);
        for (int j = 0; j < n; j++) {
            int rc = add_col(q, vex_metric_name(comp[j]), VEX_QCOL_METRIC, comp[j], err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int parse_order(const char *v, int *desc, struct vex_query_error *err, const char *pname)
{
    if (strcasecmp(v, "asc") == 0)
        *desc = 0;
    else if (strcasecmp(v, "desc") == 0)
        *desc = 1;
    else
        return vex_query_seterr(err, "bad_order", "%s must be ASC or DESC, got '%.40s'", pname,
                                v);
    return 0;
}

static int64_t granularity_seconds(const char *v, int64_t span_s)
{
    if (strcmp(v, "minute") == 0)
        return 60;
    if (strcmp(v, "5minute") == 0)
        return 300;
    if (strcmp(v, "10minute") == 0)
        return 600;
    if (strcmp(v, "hour") == 0)
        return 3600;
    if (strcmp(v, "day") == 0)
        return 86400;
    if (strcmp(v, "auto") == 0 || v[0] == '\0')
        return span_s <= 6 * 3600 ? 60 : span_s <= 7 * 86400 ? 3600 : 86400;
    return -1;
}

static int split_params(struct vex_query *q, const char *qs, struct pval pv[P__N],
                        struct vex_query_error *err)
{
    const char *p = qs;
    for (;;) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        if (end > p) {
            const char *eq = memchr(p, '=', (size_t)(end - p));
            const char *nend = eq ? eq : end;
            int nomem;
            char *name = vex_params_decode(q->mem, p, (size_t)(nend - p), NULL, &nomem);
            if (!name)
                return nomem ? VEX_ENOMEM
                             : vex_query_seterr(err, "bad_parameter",
                                                "parameter name '%.*s' has a malformed "
                                                "%%-escape",
                                                (int)(nend - p > 64 ? 64 : nend - p), p);
            int id = -1;
            for (int i = 0; i < P__N; i++) {
                if (strcmp(param_names[i], name) == 0)
                    id = i;
            }
            if (id < 0)
                return vex_query_seterr(err, "unknown_parameter",
                                        "unknown parameter '%.64s'; the metrics API takes "
                                        "planlevel, period, metrics, aggby, dimension, "
                                        "granularity, filter, qoefilter, sessiontype, allstatus, "
                                        "orderby, orderas, order, limit, offset",
                                        name);
            if (pv[id].given)
                return vex_query_seterr(err, "duplicate_parameter",
                                        "parameter '%s' is given twice; give it once (lists "
                                        "are comma-separated)",
                                        param_names[id]);
            pv[id].given = 1;
            pv[id].raw = eq ? eq + 1 : end;
            pv[id].rawlen = (size_t)(end - pv[id].raw);
        }
        if (!amp)
            return 0;
        p = amp + 1;
    }
}

int vex_params_parse(struct vex_query *q, const char *qs, struct vex_query_error *err)
{
    struct pval pv[P__N];
    memset(pv, 0, sizeof pv);
    int rc = split_params(q, qs, pv, err);
    if (rc)
        return rc;
    for (int i = 0; i < P__N; i++) {
        if (!pv[i].given || i == P_FILTER || i >= P_AGG) {
            pv[i].val = "";
            continue;
        }
        int nomem;
        pv[i].val = vex_params_decode(q->mem, pv[i].raw, pv[i].rawlen, &pv[i].len, &nomem);
        if (!pv[i].val)
            return nomem ? VEX_ENOMEM
                         : vex_query_seterr(err, "bad_parameter",
                                            "%s has a malformed %%-escape (write %%XX with two "
                                            "hex digits, %%25 for '%%')",
                                            param_names[i]);
        if (strlen(pv[i].val) != pv[i].len)
            return vex_query_seterr(err, "bad_parameter", "%s contains %%00", param_names[i]);
    }

    /* planlevel: required on the legacy paths, an integer when given. */
    if (pv[P_PLANLEVEL].val[0]) {
        if (parse_int(pv[P_PLANLEVEL].val, 1, &q->planlevel))
            return vex_query_seterr(err, "bad_planlevel",
                                    "planlevel must be an integer (the customer's plan level), "
                                    "got '%.40s'",
                                    pv[P_PLANLEVEL].val);
        q->has_planlevel = 1;
    } else if (q->ep == VEX_EP_SESSION || q->ep == VEX_EP_VOD || q->ep == VEX_EP_LIVE) {
        return vex_query_seterr(err, "missing_parameter",
                                "planlevel is required on this path: add planlevel=<your plan "
                                "level>");
    }

    if (!pv[P_PERIOD].val[0])
        return vex_query_seterr(err, "missing_parameter",
                                "period is required: add period=start=S,end=E (epoch seconds)");
    rc = parse_period(pv[P_PERIOD].val, &q->start_s, &q->end_s, err);
    if (rc)
        return rc;

    int listish = q->ep == VEX_EP_METRICQUERY || q->ep == VEX_EP_LISTSESSIONS;
    q->ended = listish;
    q->allstatus = !listish;
    const char *v = pv[P_SESSIONTYPE].val;
    if (strcmp(v, "started") == 0)
        q->ended = 0;
    else if (strcmp(v, "ended") == 0)
        q->ended = 1;
    else if (v[0])
        return vex_query_seterr(err, "bad_parameter",
                                "sessiontype must be started or ended, got '%.40s'", v);
    v = pv[P_ALLSTATUS].val;
    if (strcmp(v, "0") == 0)
        q->allstatus = 0;
    else if (strcmp(v, "1") == 0)
        q->allstatus = 1;
    else if (v[0])
        return vex_query_seterr(err, "bad_parameter", "allstatus must be 0 or 1, got '%.40s'", v);

    /* A malformed granularity is refused even when unused (SPEC 4.7). */
    q->bucket_s = granularity_seconds(pv[P_GRANULARITY].val, q->end_s - q->start_s);
    if (q->bucket_s < 0)
        return vex_query_seterr(err, "bad_granularity",
                                "granularity must be minute, 5minute, 10minute, hour, day or "
                                "auto, got '%.40s'",
                                pv[P_GRANULARITY].val);

    q->limit = 1000;
    if (pv[P_LIMIT].val[0] &&
        (parse_int(pv[P_LIMIT].val, 0, &q->limit) || q->limit < 1 || q->limit > 10000))
        return vex_query_seterr(err, "bad_limit",
                                "limit must be an integer from 1 to 10000, got '%.40s'",
                                pv[P_LIMIT].val);
    q->offset = 0;
    if (pv[P_OFFSET].val[0] && parse_int(pv[P_OFFSET].val, 0, &q->offset))
        return vex_query_seterr(err, "bad_offset",
                                "offset must be an integer >= 0, got '%.40s'",
                                pv[P_OFFSET].val);

    int desc_as = -1, desc_order = -1;
    if (pv[P_ORDERAS].val[0] && (rc = parse_order(pv[P_ORDERAS].val, &desc_as, err, "orderas")))
        return rc;
    if (pv[P_ORDER].val[0] && (rc = parse_order(pv[P_ORDER].val, &desc_order, err, "order")))
        return rc;
    if (desc_as >= 0 && desc_order >= 0 && desc_as != desc_order)
        return vex_query_seterr(err, "bad_order",
                                "orderas and order disagree (%s vs %s); give one of them",
                                pv[P_ORDERAS].val, pv[P_ORDER].val);

    /* Group keys: aggby as listed, then dimension's, then the dimensions
     * named in metrics (SPEC 4.1). listsessions implies aggby=sessionid. */
    if (q->ep == VEX_EP_LISTSESSIONS)
        add_key(q, VEX_QKEY_SESSIONID, -1);
    int aggby_given = pv[P_AGGBY].val[0] != '\0';
    if (aggby_given) {
        const char *a = pv[P_AGGBY].val;
        size_t alen;
        const char *s;
        while ((s = split_next(&a, &alen))) {
            if (alen == 0)
                return vex_query_seterr(err, "bad_aggby",
                                        "aggby has an empty name; write comma-separated keys "
                                        "such as aggby=cdn,timestamp");
        }
        rc = parse_aggby(q, pv[P_AGGBY].val, err);
        if (rc)
            return rc;
    }
    v = pv[P_DIMENSION].val;
    if (v[0] && strcmp(v, "all") != 0) {
        int dim = vex_qdim_lookup(v, strlen(v));
        if (dim >= 0)
            add_key(q, VEX_QKEY_DIM, dim);
        else if (strcmp(v, "microscope") == 0) {
            if (!aggby_given)
                add_key(q, VEX_QKEY_SESSIONID, -1);
        } else {
            return vex_query_seterr(err, "bad_dimension",
                                    "dimension must be all, microscope or a dimension (cdn, "
                                    "platform, player, os, browser, device, country, asset, "
                                    "title, isp, subscriberid, subscribertag, streamtype), got "
                                    "'%.40s'",
                                    v);
        }
    }
    if (!pv[P_METRICS].val[0])
        return vex_query_seterr(err, "missing_parameter",
                                "metrics is required: add metrics=<comma-separated names>, "
                                "e.g. metrics=attempts,viewercount");
    rc = parse_metrics(q, pv[P_METRICS].val, err);
    if (rc)
        return rc;
    if (!has_key(q, VEX_QKEY_TIMESTAMP, -1))
        q->bucket_s = 0;

    q->order_col = -1;
    v = pv[P_ORDERBY].val;
    if (v[0]) {
        for (int i = 0; i < q->nkeys && q->order_col < 0; i++) {
            if (strcmp(key_name(&q->keys[i]), v) == 0)
                q->order_col = i;
        }
        if (q->order_col < 0) {
            int c = find_col(q, v);
            if (c < 0)
                return vex_query_seterr(err, "bad_orderby",
                                        "orderby '%.64s' is not a column of the answer; use a "
                                        "group key, a name from metrics or a companion",
                                        v);
            q->order_col = q->nkeys + c;
        }
        q->order_desc = desc_as >= 0 ? desc_as : desc_order >= 0 ? desc_order : 1;
    }

    rc = vex_filter_parse(q->mem, pv[P_FILTER].raw ? pv[P_FILTER].raw : "", pv[P_FILTER].rawlen,
                          &q->filter, err);
    if (rc)
        return rc;
    return vex_filter_qoe_parse(q->mem, pv[P_QOEFILTER].val, &q->qoe, err);
}

int vex_query_seterr(struct vex_query_error *err, const char *code, const char *fmt, ...)
{
    snprintf(err->code, sizeof err->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return VEX_EINVAL;
}
