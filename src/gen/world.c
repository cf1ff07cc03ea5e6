/* world.c - the catalogue of the workload generator: invented CDNs, platforms,
 * players, countries, ISPs, assets and errors (see world.h). */
#include "gen/world.h"

#include <string.h>

#include "gen/rng.h"

/* Shares follow the rank (Zipf-like, computed by the generator); the factors are hand
 * picked so that a few CDNs, including one of the five largest, stand out as worse in
 * rebuffering or startup, which is what a "Q by CDN" dashboard exists to show. */
const struct vex_world_cdn vex_world_cdns[VEX_WORLD_NCDN] = {
    {"skyedge", 1.00f, 1.00f, 1.00f},   {"fastpath", 0.90f, 0.80f, 0.80f},
    {"globecast", 1.10f, 1.30f, 1.20f}, {"nimbus", 1.00f, 0.90f, 1.00f},
    {"streamline", 1.30f, 2.80f, 2.00f}, {"bluepeak", 0.90f, 0.90f, 0.90f},
    {"edgeway", 1.00f, 1.10f, 1.00f},   {"corecache", 1.50f, 3.50f, 2.50f},
    {"velocity", 0.80f, 0.70f, 0.80f},  {"pixelnet", 1.00f, 1.00f, 1.10f},
    {"ironcdn", 1.10f, 1.20f, 1.00f},   {"swiftnode", 0.85f, 0.80f, 0.90f},
    {"orbit", 1.00f, 1.00f, 1.00f},     {"lumina", 1.40f, 2.50f, 1.80f},
    {"metrocache", 0.95f, 0.90f, 1.00f}, {"atlasedge", 1.05f, 1.10f, 1.00f},
    {"quantum", 0.90f, 0.85f, 0.90f},   {"cascade", 1.00f, 1.00f, 1.20f},
    {"harbor", 1.10f, 1.30f, 1.10f},    {"zenith", 0.90f, 0.90f, 0.90f},
    {"prism", 1.00f, 1.00f, 1.00f},     {"vertex", 1.80f, 4.00f, 3.00f},
    {"summit", 0.95f, 1.00f, 0.90f},    {"tidal", 1.00f, 1.10f, 1.00f},
    {"ember", 1.20f, 1.40f, 1.30f},     {"polaris", 0.90f, 0.80f, 0.80f},
    {"meridian", 1.00f, 1.00f, 1.00f},  {"cobalt", 1.00f, 0.90f, 1.10f},
    {"sierra", 1.10f, 1.20f, 1.00f},    {"aurora", 0.95f, 0.90f, 0.90f},
    {"falcon", 1.50f, 3.00f, 2.20f},    {"nova", 1.00f, 1.00f, 1.00f},
    {"helix", 0.90f, 0.90f, 1.00f},     {"delta", 1.10f, 1.10f, 1.10f},
    {"arcadia", 1.00f, 1.00f, 0.90f},   {"beacon", 0.95f, 0.95f, 1.00f},
    {"crest", 1.30f, 2.00f, 1.60f},     {"dune", 1.00f, 1.00f, 1.00f},
    {"echo", 1.05f, 1.00f, 1.00f},      {"fjord", 0.90f, 0.85f, 0.90f},
};

const struct vex_world_platform vex_world_platforms[VEX_WORLD_NPLATFORM] = {
    {"web", 30.0f, 1.00f, 1.00f},      {"ios", 15.0f, 0.80f, 0.80f},
    {"android", 18.0f, 1.10f, 1.20f},  {"androidtv", 5.0f, 1.20f, 1.10f},
    {"appletv", 4.0f, 0.80f, 0.70f},   {"roku", 8.0f, 1.30f, 1.10f},
    {"firetv", 7.0f, 1.20f, 1.00f},    {"tizen", 5.0f, 1.40f, 1.20f},
    {"webos", 4.0f, 1.40f, 1.20f},     {"chromecast", 4.0f, 1.10f, 1.00f},
};

enum { P_WEB, P_IOS, P_ANDROID, P_ANDROIDTV, P_APPLETV, P_ROKU, P_FIRETV, P_TIZEN, P_WEBOS,
       P_CHROMECAST };

const char *const vex_world_players[VEX_WORLD_NPLAYER] = {
    "hlsjs", "dashjs", "shaka", "videojs", "bitmovin", "avplayer", "exoplayer", "roku",
};

enum { PL_HLSJS, PL_DASHJS, PL_SHAKA, PL_VIDEOJS, PL_BITMOVIN, PL_AVPLAYER, PL_EXOPLAYER,
       PL_ROKU };

/* Shares are rough audience weights; the octets are arbitrary public first octets, one
 * per country, so that addresses look plausible and differ between countries. */
const struct vex_world_country vex_world_countries[VEX_WORLD_NCOUNTRY] = {
    {"us", 20.0f, 73},  {"gb", 5.5f, 81},  {"de", 5.0f, 84},  {"fr", 4.0f, 90},
    {"br", 5.0f, 177},  {"in", 6.0f, 49},  {"jp", 4.0f, 126}, {"ca", 3.0f, 142},
    {"mx", 3.0f, 187},  {"es", 2.5f, 83},  {"it", 2.5f, 79},  {"au", 2.0f, 101},
    {"kr", 2.0f, 211},  {"nl", 1.5f, 82},  {"se", 1.0f, 78},  {"pl", 1.5f, 89},
    {"tr", 1.5f, 88},   {"id", 2.0f, 36},  {"ph", 1.5f, 112}, {"ar", 1.2f, 181},
    {"co", 1.0f, 186},  {"cl", 0.8f, 190}, {"za", 0.8f, 105}, {"ng", 0.8f, 102},
    {"eg", 0.8f, 156},  {"sa", 0.8f, 188}, {"ae", 0.6f, 94},  {"ru", 1.2f, 95},
    {"ua", 0.6f, 91},   {"ro", 0.5f, 86},  {"cz", 0.4f, 85},  {"at", 0.4f, 80},
    {"ch", 0.4f, 178},  {"be", 0.5f, 109}, {"pt", 0.5f, 87},  {"gr", 0.4f, 92},
    {"ie", 0.3f, 37},   {"dk", 0.3f, 93},  {"no", 0.3f, 77},  {"fi", 0.3f, 62},
    {"nz", 0.3f, 121},  {"sg", 0.4f, 116}, {"my", 0.6f, 115}, {"th", 1.0f, 110},
    {"vn", 1.0f, 113},  {"pk", 0.8f, 39},  {"bd", 0.5f, 103}, {"ke", 0.4f, 41},
    {"il", 0.4f, 46},   {"pe", 0.6f, 179},
};

const uint32_t vex_world_ladder[VEX_WORLD_NLADDER] = {400, 800, 1500, 3000, 4500, 6000, 8000};

const char *const vex_world_isp_kinds[VEX_WORLD_NISPKIND] = {
    "telecom", "cable", "mobile", "fiber", "net",
};
const float vex_world_isp_shares[VEX_WORLD_NISPKIND] = {0.35f, 0.28f, 0.18f, 0.12f, 0.07f};

const char *const vex_world_tags[VEX_WORLD_NTAG] = {"free", "basic", "standard", "premium"};
const float vex_world_tag_shares[VEX_WORLD_NTAG] = {0.35f, 0.30f, 0.20f, 0.15f};

static const struct vex_world_error start_errors[] = {
    {"MANIFEST-404", "manifest not found"},
    {"DRM-403", "license request denied"},
    {"NET-TIMEOUT", "manifest request timed out"},
    {"MEDIA-UNSUPPORTED", "no playable rendition for this device"},
    {"GEO-BLOCKED", "content not available in this region"},
};

static const struct vex_world_error play_errors[] = {
    {"NET-SEGMENT", "segment download failed after 3 retries"},
    {"MEDIA-DECODE", "video decoder error"},
    {"DRM-EXPIRED", "license expired during playback"},
    {"NET-DISCONNECT", "network connection lost"},
};

static const struct vex_world_error warnings[] = {
    {"NET-RETRY", "segment request retried"},
    {"CAPTIONS-404", "subtitle track failed to load"},
    {"ABR-SWITCH-FAIL", "rendition switch failed, kept the current one"},
    {"AD-TIMEOUT", "ad request timed out"},
    {"DROPPED-FRAMES", "dropped frames above 10%"},
};

const struct vex_world_error *vex_world_start_errors(size_t *n)
{
    *n = sizeof start_errors / sizeof start_errors[0];
    return start_errors;
}

const struct vex_world_error *vex_world_play_errors(size_t *n)
{
    *n = sizeof play_errors / sizeof play_errors[0];
    return play_errors;
}

const struct vex_world_error *vex_world_warnings(size_t *n)
{
    *n = sizeof warnings / sizeof warnings[0];
    return warnings;
}

/* pick returns an index drawn from `weights` (need not sum to 1) with `u` in [0, 1). */
static int pick(const float *weights, int n, double u)
{
    double total = 0;
    for (int i = 0; i < n; i++)
        total += weights[i];
    double x = u * total;
    for (int i = 0; i < n - 1; i++) {
        if (x < weights[i])
            return i;
        x -= weights[i];
    }
    return n - 1;
}

/* Ladder rungs: 4 = 4500 kbps, 5 = 6000, 6 = 8000. */
enum { TOP_PHONE = 4, TOP_TABLET = 5, TOP_DESKTOP = 5, TOP_TV = 6 };

static void web_client(struct vex_rng *r, struct vex_world_client *c)
{
    static const char *const oses[] = {"windows", "macos", "linux", "chromeos"};
    static const float os_w[] = {60, 25, 5, 10};
    int os = pick(os_w, 4, vex_rng_unit(r));
    c->os = oses[os];
    /* Browsers depend on the OS: Safari only on macOS, Edge only on Windows. */
    if (os == 0) {
        static const char *const b[] = {"chrome", "edge", "firefox"};
        static const float w[] = {65, 25, 10};
        c->browser = b[pick(w, 3, vex_rng_unit(r))];
    } else if (os == 1) {
        static const char *const b[] = {"safari", "chrome", "firefox"};
        static const float w[] = {50, 40, 10};
        c->browser = b[pick(w, 3, vex_rng_unit(r))];
    } else if (os == 2) {
        static const char *const b[] = {"chrome", "firefox"};
        static const float w[] = {60, 40};
        c->browser = b[pick(w, 2, vex_rng_unit(r))];
    } else {
        c->browser = "chrome";
    }
    c->device = "desktop";
    c->max_level = vex_rng_chance(r, 0.3) ? TOP_TV : TOP_DESKTOP;
    static const int players[] = {PL_HLSJS, PL_SHAKA, PL_VIDEOJS, PL_DASHJS, PL_BITMOVIN};
    static const float pw[] = {35, 20, 20, 10, 15};
    /* Safari plays HLS natively; sites there mostly use hls.js or video.js on top. */
    c->player = vex_world_players[players[pick(pw, 5, vex_rng_unit(r))]];
}

void vex_world_client(int platform, uint64_t h, struct vex_world_client *c)
{
    struct vex_rng r;
    vex_rng_seed(&r, h);
    c->browser = NULL;
    switch (platform) {
    case P_WEB:
        web_client(&r, c);
        return;
    case P_IOS:
    case P_ANDROID: {
        int tablet = vex_rng_chance(&r, platform == P_IOS ? 0.2 : 0.15);
        c->os = platform == P_IOS ? "ios" : "android";
        c->device = tablet ? "tablet" : "phone";
        c->max_level = tablet ? TOP_TABLET : TOP_PHONE;
        if (platform == P_IOS)
            c->player = vex_world_players[PL_AVPLAYER];
        else
            c->player = vex_world_players[vex_rng_chance(&r, 0.85) ? PL_EXOPLAYER : PL_BITMOVIN];
        return;
    }
    case P_ANDROIDTV:
        c->os = "android";
        c->device = "tv";
        c->player = vex_world_players[PL_EXOPLAYER];
        break;
    case P_APPLETV:
        c->os = "tvos";
        c->device = "tv";
        c->player = vex_world_players[PL_AVPLAYER];
        break;
    case P_ROKU:
        c->os = "rokuos";
        c->device = vex_rng_chance(&r, 0.6) ? "stick" : "tv";
        c->player = vex_world_players[PL_ROKU];
        break;
    case P_FIRETV:
        c->os = "fireos";
        c->device = vex_rng_chance(&r, 0.8) ? "stick" : "tv";
        c->player = vex_world_players[PL_EXOPLAYER];
        break;
    case P_TIZEN:
        c->os = "tizen";
        c->device = "tv";
        c->player = vex_world_players[vex_rng_chance(&r, 0.6) ? PL_SHAKA : PL_BITMOVIN];
        break;
    case P_WEBOS:
        c->os = "webos";
        c->device = "tv";
        c->player = vex_world_players[vex_rng_chance(&r, 0.7) ? PL_SHAKA : PL_DASHJS];
        break;
    default: /* P_CHROMECAST */
        c->os = "castos";
        c->device = "stick";
        c->player = vex_world_players[PL_SHAKA];
        break;
    }
    /* Television-class devices: older ones stop at 4500 kbps. */
    c->max_level = vex_rng_chance(&r, 0.25) ? TOP_PHONE : TOP_TV;
}

int vex_world_asset_live(uint32_t a)
{
    return a % VEX_WORLD_LIVE_EVERY == 3;
}

static char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static char *put_uint(char *p, unsigned v, int width)
{
    char tmp[12];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n)
        *p++ = tmp[--n];
    return p;
}

size_t vex_world_asset_id(uint32_t a, char *buf)
{
    char *p = put_str(buf, vex_world_asset_live(a) ? "live-" : "vod-");
    p = put_uint(p, a, 5);
    *p = '\0';
    return (size_t)(p - buf);
}

static const char *const adjectives[] = {
    "Silent", "Crimson", "Hidden", "Broken", "Golden", "Last", "Lost", "Dark",
    "Bright", "Frozen", "Wild", "Secret", "Endless", "Burning", "Quiet", "Falling",
    "Rising", "Electric", "Hollow", "Distant", "Savage", "Gentle", "Midnight", "Northern",
    "Velvet", "Iron", "Paper", "Glass", "Scarlet", "Emerald", "Fading", "Brave",
};

static const char *const nouns[] = {
    "Harbor", "River", "Empire", "Garden", "Signal", "Kingdom", "Horizon", "Station",
    "Frontier", "Island", "Mirror", "Orchard", "Desert", "Forest", "Tide", "Circuit",
    "Lantern", "Voyage", "Summit", "Canyon", "Meadow", "Citadel", "Archive", "Compass",
    "Echo", "Ember", "Falcon", "Harvest", "Journey", "Labyrinth", "Legacy", "Monsoon",
    "Nomad", "Outpost", "Pilgrim", "Prophecy", "Rebellion", "Sanctuary", "Tempest", "Witness",
};

static const char *const channel_kinds[] = {
    " News 24", " Sports Live", " TV", " Music Live", " Kids", " Movies",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

size_t vex_world_title(uint32_t a, char *buf)
{
    struct vex_rng r;
    /* A fixed salt, not the seed: titles belong to the catalogue. */
    vex_rng_seed(&r, vex_rng_mix(0x7469746c65ULL, a));
    const char *adj = adjectives[vex_rng_below(&r, NELEM(adjectives))];
    const char *noun = nouns[vex_rng_below(&r, NELEM(nouns))];
    char *p = buf;
    if (vex_world_asset_live(a)) {
        if (vex_rng_chance(&r, 0.5)) {
            p = put_str(p, adj);
            *p++ = ' ';
        }
        p = put_str(p, noun);
        p = put_str(p, channel_kinds[vex_rng_below(&r, NELEM(channel_kinds))]);
    } else {
        if (vex_rng_chance(&r, 0.4))
            p = put_str(p, "The ");
        p = put_str(p, adj);
        *p++ = ' ';
        p = put_str(p, noun);
        if (vex_rng_chance(&r, 0.4)) { /* an episode of a series */
            p = put_str(p, " S");
            p = put_uint(p, 1 + vex_rng_below(&r, 6), 1);
            p = put_str(p, " E");
            p = put_uint(p, 1 + vex_rng_below(&r, 12), 1);
        } else if (vex_rng_chance(&r, 0.15)) { /* a sequel */
            p = put_str(p, " ");
            p = put_uint(p, 2 + vex_rng_below(&r, 3), 1);
        }
    }
    *p = '\0';
    return (size_t)(p - buf);
}
