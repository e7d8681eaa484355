#!/usr/bin/env bash
# dev.sh runs the server in development mode (built-in app demo-app) and prints a ready
# token for it, so that the README's browser snippet and `npx wscat` work at once.
#   scripts/dev.sh                 listen on 127.0.0.1:3000
#   RTMATE_LISTEN=127.0.0.1:4000 scripts/dev.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p bin
go build -o bin/rtmate-server ./rtmate-server/cmd/rtmate-server
go build -o bin/rtmate-token ./rtmate-auth/cmd/rtmate-token
addr=${RTMATE_LISTEN:-127.0.0.1:3000}
token=$(bin/rtmate-token --app demo-app --sub alice --ttl 24h)
cat <<TXT
RTMate development server on ws://$addr/ws  (demo page: http://$addr/demo/)
A token for app demo-app, user alice, valid 24h:

  $token

More tokens: bin/rtmate-token --app demo-app --sub bob   or   curl "http://$addr/dev/token?sub=bob"
TXT
exec bin/rtmate-server -listen "$addr" "$@"
