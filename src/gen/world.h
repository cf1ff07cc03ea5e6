/* world.h - the fixed catalogue the workload generator draws from.
 *
 * CDNs with their quality, platforms with the clients that run on them, players,
 * countries with their ISPs and address blocks, 5,000 assets with titles, the bitrate
 * ladder and error codes. None of it depends on the seed: two runs with different seeds
 * (or for different customers) describe the same world, so their dashboards compare.
 * All names are invented; a CDN that rebuffers more here says nothing about a real one.
 * Strings are static, ASCII and need no JSON escaping. */
#ifndef VEX_GEN_WORLD_H
#define VEX_GEN_WORLD_H

#include <stddef.h>
#include <stdint.h>

enum {
    VEX_WORLD_NCDN = 40,
    VEX_WORLD_NPLATFORM = 10,
    VEX_WORLD_NPLAYER = 8,
    VEX_WORLD_NCOUNTRY = 50,
    VEX_WORLD_NASSET = 5000,
    VEX_WORLD_NLADDER = 7,
    VEX_WORLD_NISPKIND = 5,
    VEX_WORLD_NTAG = 4,
    /* every VEX_WORLD_LIVE_EVERY-th asset is a live channel: 200 of 5,000 */
    VEX_WORLD_LIVE_EVERY = 25,
    /* longest string vex_world_title() writes, without its terminator */
    VEX_WORLD_TITLE_MAX = 48,
};

/* A CDN, in order of market share (rank 0 is the largest). The factors multiply the
 * base startup time, rebuffer frequency and failure probabilities; 1 is average. */
struct vex_world_cdn {
    const char *name;
    float startup;
    float rebuf;
    float fail;
};

/* A platform: its share of sessions and how it changes startup time and rebuffering. */
struct vex_world_platform {
    const char *name;
    float share;
    float startup;
    float rebuf;
};

/* A country: ISO 3166-1 alpha-2 code in lower case, share of sessions, and the first
 * octet of the IPv4 block its viewers' addresses come from. */
struct vex_world_country {
    const char *code;
    float share;
    uint8_t ip_octet;
};

/* An error an event can carry: `code` and `msg` fields. */
struct vex_world_error {
    const char *code;
    const char *msg;
};

/* What a viewer's device reports on one platform; browser is NULL for native apps
 * (the field is then left out, SPEC 2: a missing dimension is the empty string). */
struct vex_world_client {
    const char *os;
    const char *browser;
    const char *device;
    const char *player;
    int max_level; /* highest rung of the ladder the device plays */
};

extern const struct vex_world_cdn vex_world_cdns[VEX_WORLD_NCDN];
extern const struct vex_world_platform vex_world_platforms[VEX_WORLD_NPLATFORM];
extern const struct vex_world_country vex_world_countries[VEX_WORLD_NCOUNTRY];
extern const char *const vex_world_players[VEX_WORLD_NPLAYER];
/* the bitrate ladder in kbps, lowest first */
extern const uint32_t vex_world_ladder[VEX_WORLD_NLADDER];
/* ISP kinds and their shares within a country; the ISP name is "<country>-<kind>" */
extern const char *const vex_world_isp_kinds[VEX_WORLD_NISPKIND];
extern const float vex_world_isp_shares[VEX_WORLD_NISPKIND];
/* subscriber tiers and their shares */
extern const char *const vex_world_tags[VEX_WORLD_NTAG];
extern const float vex_world_tag_shares[VEX_WORLD_NTAG];

/* Errors by situation: fatal before playing (start failures), fatal while playing
 * (playback failures), and non-fatal warnings. `*n` receives the table's length. */
const struct vex_world_error *vex_world_start_errors(size_t *n);
const struct vex_world_error *vex_world_play_errors(size_t *n);
const struct vex_world_error *vex_world_warnings(size_t *n);

/* vex_world_client picks the os, browser, device and player of one viewer on
 * `platform` (0..VEX_WORLD_NPLATFORM-1). `h` is a hash of the viewer and platform: the
 * same viewer gets the same device on the same platform every time. */
void vex_world_client(int platform, uint64_t h, struct vex_world_client *out);

/* vex_world_asset_live is 1 when asset `a` (0..VEX_WORLD_NASSET-1) is a live channel. */
int vex_world_asset_live(uint32_t a);

/* vex_world_asset_id writes the asset id ("vod-00042", "live-00003") and its
 * terminator into `buf`, which holds at least 16 bytes; returns the length. */
size_t vex_world_asset_id(uint32_t a, char *buf);

/* vex_world_title writes the title of asset `a` and its terminator into `buf`, which
 * holds at least VEX_WORLD_TITLE_MAX + 1 bytes; returns the length. */
size_t vex_world_title(uint32_t a, char *buf);

#endif
