/* strpool.c - interning with an open-addressing index over arena-held
 * strings. */
#include "core/strpool.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"

#define BLOCK_SIZE (1u << 20)

struct block {
    struct block *next;
    size_t used, cap;
    char data[];
};

struct vex_strpool {
    struct block *blocks;
    const char **strs;
    uint32_t *lens;
    size_t count, cap;
    uint32_t *slots; /* id + 1, 0 = empty; hashes are recomputed on growth,
                        which keeps the index at 4 bytes a slot */
    size_t nslots;
    size_t bytes;
};

static char *arena_alloc(struct vex_strpool *p, size_t n)
{
    struct block *b = p->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > BLOCK_SIZE ? n : BLOCK_SIZE;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = p->blocks;
        b->used = 0;
        b->cap = cap;
        p->blocks = b;
        p->bytes += sizeof *b + cap;
    }
    char *r = b->data + b->used;
    b->used += n;
    return r;
}

static int grow_slots(struct vex_strpool *p)
{
    size_t n = p->nslots ? p->nslots * 2 : 1024;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return VEX_ENOMEM;
    for (size_t i = 0; i < p->nslots; i++) {
        if (!p->slots[i])
            continue;
        uint32_t id = p->slots[i] - 1;
        size_t j = vex_hash_bytes(p->strs[id], p->lens[id]) & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = p->slots[i];
    }
    free(p->slots);
    p->slots = slots;
    p->nslots = n;
    return 0;
}

int vex_strpool_create(struct vex_strpool **out)
{
    struct vex_strpool *p = calloc(1, sizeof *p);
    uint32_t id;
    if (!p)
        return VEX_ENOMEM;
    if (grow_slots(p) || vex_strpool_intern(p, "", 0, &id)) {
        vex_strpool_destroy(p);
        return VEX_ENOMEM;
    }
    *out = p;
    return 0;
}

void vex_strpool_destroy(struct vex_strpool *p)
{
    if (!p)
        return;
    struct block *b = p->blocks;
    while (b) {
        struct block *n = b->next;
        free(b);
        b = n;
    }
    free(p->strs);
    free(p->lens);
    free(p->slots);
    free(p);
}

static size_t lookup(const struct vex_strpool *p, const char *s, size_t len, uint64_t h)
{
    size_t j = h & (p->nslots - 1);
    while (p->slots[j]) {
        uint32_t id = p->slots[j] - 1;
        if (p->lens[id] == len && memcmp(p->strs[id], s, len) == 0)
            return j;
        j = (j + 1) & (p->nslots - 1);
    }
    return j;
}

int vex_strpool_find(const struct vex_strpool *p, const char *s, size_t len, uint32_t *id)
{
    size_t j = lookup(p, s, len, vex_hash_bytes(s, len));
    if (!p->slots[j])
        return VEX_ENOENT;
    *id = p->slots[j] - 1;
    return 0;
}

int vex_strpool_intern(struct vex_strpool *p, const char *s, size_t len, uint32_t *id)
{
    uint64_t h = vex_hash_bytes(s, len);
    size_t j = lookup(p, s, len, h);
    if (p->slots[j]) {
        *id = p->slots[j] - 1;
        return 0;
    }
    if ((p->count + 1) * 4 > p->nslots * 3) {
        if (grow_slots(p))
            return VEX_ENOMEM;
        j = lookup(p, s, len, h);
    }
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        const char **strs = realloc(p->strs, cap * sizeof *strs);
        if (!strs)
            return VEX_ENOMEM;
        p->strs = strs;
        uint32_t *lens = realloc(p->lens, cap * sizeof *lens);
        if (!lens)
            return VEX_ENOMEM;
        p->lens = lens;
        p->cap = cap;
    }
    char *copy = arena_alloc(p, len + 1);
    if (!copy)
        return VEX_ENOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    p->strs[p->count] = copy;
    p->lens[p->count] = (uint32_t)len;
    p->slots[j] = (uint32_t)p->count + 1;
    *id = (uint32_t)p->count++;
    return 0;
}

const char *vex_strpool_get(const struct vex_strpool *p, uint32_t id)
{
    return id < p->count ? p->strs[id] : "";
}

uint32_t vex_strpool_len(const struct vex_strpool *p, uint32_t id)
{
    return id < p->count ? p->lens[id] : 0;
}

const char *const *vex_strpool_strings(const struct vex_strpool *p)
{
    return p->strs;
}

size_t vex_strpool_count(const struct vex_strpool *p)
{
    return p->count;
}

size_t vex_strpool_bytes(const struct vex_strpool *p)
{
    return p->bytes + p->cap * (sizeof(char *) + sizeof(uint32_t)) +
           p->nslots * sizeof(uint32_t);
}
