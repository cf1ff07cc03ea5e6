/* routes.h - the API's route table and the handlers of this module. */
#ifndef VEX_API_ROUTES_H
#define VEX_API_ROUTES_H

#include "api/app.h"

/* vex_api_dispatch routes one request (the vex_dispatch_fn of the server;
 * ctx is the struct vex_app). */
void vex_api_dispatch(void *ctx, const struct vex_http_request *req,
                      struct vex_http_response *resp);

void vex_api_events(struct vex_app *app, const struct vex_http_request *req,
                    struct vex_http_response *resp);
void vex_api_events_preflight(struct vex_app *app, const struct vex_http_request *req,
                              struct vex_http_response *resp);
void vex_api_metrics(struct vex_app *app, const struct vex_http_request *req,
                     struct vex_http_response *resp);
void vex_api_health(struct vex_app *app, const struct vex_http_request *req,
                    struct vex_http_response *resp);
void vex_api_prometheus(struct vex_app *app, const struct vex_http_request *req,
                        struct vex_http_response *resp);

/* vex_api_is_local reports whether the request carries this server's local
 * secret (constant-time comparison). */
int vex_api_is_local(const struct vex_app *app, const struct vex_http_request *req);

#endif
