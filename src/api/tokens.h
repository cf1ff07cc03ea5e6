/* tokens.h - the token endpoints (Keycloak-compatible and legacy), the JWKS
 * and the plan-level lookup (SPEC section 5). The router calls these with
 * app->auth and app->accounts set. */
#ifndef VEX_API_TOKENS_H
#define VEX_API_TOKENS_H

#include "api/app.h"
#include "http/http.h"

/* POST /realms/<realm>/protocol/openid-connect/token, form-encoded:
 * grant_type=password (username, password, client_id, scope) or
 * grant_type=refresh_token (refresh_token). 200 with the tokens; 400
 * invalid_request / unsupported_grant_type; 401 invalid_client or
 * invalid_grant; 429 with Retry-After after repeated failures. */
void vex_api_token(struct vex_app *app, const struct vex_http_request *req,
                   struct vex_http_response *resp);

/* GET /realms/<realm>/protocol/openid-connect/certs: the JWKS. */
void vex_api_certs(struct vex_app *app, const struct vex_http_request *req,
                   struct vex_http_response *resp);

/* POST /generateOAuthToken: the same fields (grant_type defaults to
 * password; a JSON object body is accepted too); 201 with access_token,
 * token_type "bearer", refresh_token, expires_in, scope. */
void vex_api_legacy_token(struct vex_app *app, const struct vex_http_request *req,
                          struct vex_http_response *resp);

/* GET /planLevelByCustId/<customer-id>: checked like the metrics API;
 * 200 {"customerid": "...", "planlevel": N}. */
void vex_api_planlevel(struct vex_app *app, const struct vex_http_request *req,
                       struct vex_http_response *resp);

#endif
