// Package api is the server HTTP API for an app's backend, on the same port as /ws:
// publish and broadcast as the server, presence, active channels, disconnecting clients,
// and usage. Requests are authenticated with the app's api_key (Authorization: Bearer) and
// answered with the protocol's {"code","message","data"} envelope and error table.
//
// Entry point: New, mounted at "/api/". The reference is docs/api.md (and docs/openapi.yaml).
package api
