// Package healthcheck is the client side of the server's /healthz, for places that have no
// shell or curl: `rtmate-server -healthcheck URL` in a distroless container's HEALTHCHECK.
// Entry point: Probe.
package healthcheck
