/* dashboard.h - the web dashboard that `vex serve` shows at GET /: its files
 * (web/index.html, web/app.js, web/style.css) are compiled into the binary
 * by web/CMakeLists.txt, and one handler serves them. */
#ifndef VEX_API_DASHBOARD_H
#define VEX_API_DASHBOARD_H

#include <stddef.h>

#include "api/app.h"

/* One embedded file. Everything points into static storage. */
struct vex_web_asset {
    const char *path;         /* name under web/, e.g. "app.js" */
    const char *content_type; /* e.g. "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
};

/* vex_web_assets returns the table of embedded files and stores their number
 * in *count. Defined in the source that web/CMakeLists.txt generates (library
 * vex_web). */
const struct vex_web_asset *vex_web_assets(size_t *count);

/* vex_api_dashboard serves GET / (index.html) and GET /dashboard/<file> (any
 * embedded file); anything else is a 404 JSON error. Route it for "/" and
 * "/dashboard/{}". */
void vex_api_dashboard(struct vex_app *app, const struct vex_http_request *req,
                       struct vex_http_response *resp);

#endif
