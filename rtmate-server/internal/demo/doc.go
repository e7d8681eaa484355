// Package demo serves RTMate's development chat page: a small static site (index.html,
// app.js, style.css and a copy of the JS SDK under sdk/) embedded in the binary, so that the
// README's "open /demo/ and chat" works without node or a build step.
//
// Entry point: Handler. The server mounts it at /demo/ in development mode only, because the
// page fetches tokens from /dev/token, which exists only there.
//
// The sdk/ folder is generated: `npm run build` in sdk/js copies the SDK's dist output into
// it. Do not edit it by hand.
package demo
