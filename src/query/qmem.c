/* qmem.c - a bump arena for the pieces of a parsed query (decoded values,
 * filter conditions), so that a query is freed in one call whatever the
 * parser kept. */
#include "query/query_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define QMEM_BLOCK 4096

struct qmem_block {
    struct qmem_block *next;
    size_t used, cap;
    /* Aligned for any scalar the parser stores (doubles, pointers). */
    _Alignas(16) unsigned char data[];
};

struct vex_qmem {
    struct qmem_block *head;
};

int vex_qmem_create(struct vex_qmem **out)
{
    struct vex_qmem *m = calloc(1, sizeof *m);
    if (!m)
        return VEX_ENOMEM;
    *out = m;
    return 0;
}

void *vex_qmem_alloc(struct vex_qmem *m, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    struct qmem_block *b = m->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > QMEM_BLOCK ? n : QMEM_BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = m->head;
        b->used = 0;
        b->cap = cap;
        m->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *vex_qmem_strndup(struct vex_qmem *m, const char *s, size_t n)
{
    char *p = vex_qmem_alloc(m, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void vex_qmem_destroy(struct vex_qmem *m)
{
    if (!m)
        return;
    struct qmem_block *b = m->head;
    while (b) {
        struct qmem_block *next = b->next;
        free(b);
        b = next;
    }
    free(m);
}
