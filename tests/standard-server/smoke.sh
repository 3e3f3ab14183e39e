#!/usr/bin/env bash
# Smoke test of the standard server (panva's oidc-provider): the whole RFC 8628
# device flow with curl, refresh-token rotation and reuse, revocation, a denied
# request, and the answers for a scope the stock server does not know.
# Exits 0 only if every step behaved as expected. Needs node (>= 20) and curl.
# Talks to 127.0.0.1 only.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
started=$(date +%s%N)

for tool in node npm curl; do
  command -v "$tool" >/dev/null || { echo "smoke.sh: $tool not found" >&2; exit 1; }
done

if [ ! -d node_modules/oidc-provider ]; then
  echo "== npm ci (node_modules missing)"
  npm ci --no-audit --no-fund
fi

export CLIENT_IDS=CAM-1,CAM-2
export CLIENT_SECRET=standard-secret
SECRET=$CLIENT_SECRET
DEVICE_GRANT=urn:ietf:params:oauth:grant-type:device_code

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  exec 3<&- 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  local log
  log=$(grep -v -e '^oidc-provider NOTICE' -e '^oidc-provider WARNING' "$work/server.err" 2>/dev/null | tail -20 || true)
  if [ -n "$log" ]; then
    echo "--- server stderr (last 20 lines, provider NOTICE/WARNING lines left out)" >&2
    echo "$log" >&2
  fi
  exit 1
}

step() { printf '\n== %s\n' "$*"; }

# --- start the server on a free port; wait for its one stdout line -----------
mkfifo "$work/server.out"
node server.mjs 0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
exec 3<"$work/server.out"
line=
read -r -t 15 -u 3 line || fail "server exited or printed no LISTENING line within 15 s"
case "$line" in
  "LISTENING http://127.0.0.1:"*) BASE=${line#LISTENING } ;;
  *) fail "unexpected first stdout line from server: $line" ;;
esac
echo "server: $BASE (pid $server_pid)"

# --- helpers ------------------------------------------------------------------
# http METHOD URL [curl args...]: body in $BODY, status in $STATUS, top-level
# scalar JSON fields of the body in J[...] (one node run per answer).
declare -A J
http() {
  local method=$1 url=$2 key value
  shift 2
  STATUS=$(curl -sS --max-time 10 -o "$work/body" -w '%{http_code}' -X "$method" "$url" "$@") \
    || fail "curl $method $url failed"
  BODY=$(cat "$work/body")
  J=()
  BODY_IS_JSON=0
  [ -n "$BODY" ] || return 0
  node -e '
    let o; try { o = JSON.parse(require("fs").readFileSync(0, "utf8")); } catch { process.exit(3); }
    if (o === null || typeof o !== "object" || Array.isArray(o)) process.exit(3);
    for (const [k, v] of Object.entries(o)) {
      const s = Array.isArray(v) ? v.join(" ") : (typeof v === "object" ? JSON.stringify(v) : String(v));
      process.stdout.write(k + "\0" + s + "\0");
    }
  ' <"$work/body" >"$work/fields" || return 0
  BODY_IS_JSON=1
  while IFS= read -r -d '' key && IFS= read -r -d '' value; do
    J[$key]=$value
  done <"$work/fields"
}

# post_form URL name=value... : urlencoded form POST (each pair encoded by curl).
post_form() {
  local url=$1
  shift
  local args=()
  for kv in "$@"; do args+=(--data-urlencode "$kv"); done
  http POST "$url" -H 'accept: application/json' "${args[@]}"
}

# jget FIELD: a top-level field of the last JSON body ("" if absent).
jget() {
  [ "$BODY_IS_JSON" = 1 ] || fail "body is not a JSON object: HTTP $STATUS $BODY"
  printf '%s' "${J[$1]-}"
}

expect_status() {
  [ "$STATUS" = "$1" ] || fail "$2: expected HTTP $1, got $STATUS: $BODY"
}

expect_error() { # status error what
  expect_status "$1" "$3"
  local err
  err=$(jget error)
  [ "$err" = "$2" ] || fail "$3: expected error $2, got: $BODY"
}

show() { echo "  HTTP $STATUS $BODY"; }

# short: first 12 characters of a token, for the log.
short() { printf '%s...' "${1:0:12}"; }

# --- discovery -------------------------------------------------------------------
step "discovery: GET /.well-known/openid-configuration"
http GET "$BASE/.well-known/openid-configuration"
expect_status 200 discovery
[ "$(jget issuer)" = "$BASE" ] || fail "issuer is $(jget issuer), expected $BASE"
DEVICE_EP=$(jget device_authorization_endpoint)
TOKEN_EP=$(jget token_endpoint)
REVOKE_EP=$(jget revocation_endpoint)
for ep in "$DEVICE_EP" "$TOKEN_EP" "$REVOKE_EP"; do
  case "$ep" in "$BASE"/*) ;; *) fail "endpoint missing or not under $BASE: '$ep'" ;; esac
done
echo "  device_authorization_endpoint: $DEVICE_EP  (path ${DEVICE_EP#"$BASE"})"
echo "  token_endpoint:                $TOKEN_EP  (path ${TOKEN_EP#"$BASE"})"
echo "  revocation_endpoint:           $REVOKE_EP  (path ${REVOKE_EP#"$BASE"})"
echo "  scopes_supported: $(jget scopes_supported)"

# device_auth CLIENT SCOPE: sets DEVICE_CODE, USER_CODE.
device_auth() {
  post_form "$DEVICE_EP" "client_id=$1" "client_secret=$SECRET" "scope=$2"
  expect_status 200 "device authorization for $1 ($2)"
  DEVICE_CODE=$(jget device_code)
  USER_CODE=$(jget user_code)
  [ -n "$DEVICE_CODE" ] && [ -n "$USER_CODE" ] || fail "no device_code/user_code: $BODY"
  [ -n "$(jget verification_uri)" ] || fail "no verification_uri: $BODY"
  [ -n "$(jget expires_in)" ] || fail "no expires_in: $BODY"
  echo "  HTTP 200 user_code=$USER_CODE device_code=$(short "$DEVICE_CODE") verification_uri=$(jget verification_uri) expires_in=$(jget expires_in) interval=${J[interval]:-(absent: RFC 8628 default 5 s)}"
}

poll() { # CLIENT DEVICE_CODE
  post_form "$TOKEN_EP" "client_id=$1" "client_secret=$SECRET" "grant_type=$DEVICE_GRANT" "device_code=$2"
}

refresh() { # CLIENT REFRESH_TOKEN
  post_form "$TOKEN_EP" "client_id=$1" "client_secret=$SECRET" "grant_type=refresh_token" "refresh_token=$2"
}

revoke() { # CLIENT TOKEN
  post_form "$REVOKE_EP" "client_id=$1" "client_secret=$SECRET" "token=$2" "token_type_hint=refresh_token"
}

expect_tokens() { # what
  expect_status 200 "$1"
  ACCESS=$(jget access_token)
  REFRESH=$(jget refresh_token)
  [ -n "$ACCESS" ] || fail "$1: no access_token: $BODY"
  [ -n "$REFRESH" ] || fail "$1: no refresh_token: $BODY"
  [ "$(jget token_type)" = Bearer ] || fail "$1: token_type is not Bearer: $BODY"
  [ -n "$(jget expires_in)" ] || fail "$1: no expires_in: $BODY"
  echo "  HTTP 200 access_token=$(short "$ACCESS") refresh_token=$(short "$REFRESH") expires_in=$(jget expires_in) token_type=$(jget token_type) scope='$(jget scope)' id_token=$([ -n "$(jget id_token)" ] && echo yes || echo no)"
}

approve() { # USER_CODE [--deny]
  local out
  out=$(node approve.mjs "$BASE" "$@" 2>&1) || fail "approve.mjs $*: $out"
  echo "  $out"
}

# --- CAM-1: the whole dance with scope "openid offline_access" --------------------
SCOPE="openid offline_access"
step "CAM-1: device authorization, scope '$SCOPE'"
device_auth CAM-1 "$SCOPE"
DC1=$DEVICE_CODE

step "CAM-1: poll token endpoint before approval (expect authorization_pending)"
poll CAM-1 "$DC1"
expect_error 400 authorization_pending "poll before approval"
show

step "CAM-1: approve.mjs $USER_CODE (device page, login, consent)"
approve "$USER_CODE"

step "CAM-1: poll again (expect tokens incl. refresh_token)"
poll CAM-1 "$DC1"
expect_tokens "poll after approval"
RT1=$REFRESH
AT1=$ACCESS

step "CAM-1: refresh_token grant with the first refresh token (expect new tokens)"
refresh CAM-1 "$RT1"
expect_tokens "refresh"
RT2=$REFRESH
[ "$RT2" != "$RT1" ] || fail "refresh token did not rotate"
[ "$ACCESS" != "$AT1" ] || fail "access token did not change"
echo "  rotated: new refresh token differs from the old one"

step "CAM-1: reuse the OLD (rotated) refresh token (expect invalid_grant)"
refresh CAM-1 "$RT1"
expect_error 400 invalid_grant "reused rotated refresh token"
show

step "CAM-1: revoke the new refresh token (expect 200)"
revoke CAM-1 "$RT2"
expect_status 200 "revocation"
show

step "CAM-1: the new refresh token no longer works (expect invalid_grant)"
refresh CAM-1 "$RT2"
expect_error 400 invalid_grant "refresh with revoked token"
show
echo "  note: the reuse above had already revoked the whole grant, this token included"

# --- CAM-2: scope "offline_access" alone; revocation on its own -------------------
step "CAM-2: device flow with scope 'offline_access' (no openid)"
device_auth CAM-2 offline_access
approve "$USER_CODE"
poll CAM-2 "$DEVICE_CODE"
expect_tokens "CAM-2 poll after approval"
[ -z "$(jget id_token)" ] || fail "id_token without openid scope"
B1=$REFRESH

step "CAM-2: refresh token of CAM-2 presented by CAM-1 (expect invalid_grant)"
refresh CAM-1 "$B1"
expect_error 400 invalid_grant "refresh token of another client"
show

step "CAM-2: wrong client_secret (expect invalid_client)"
post_form "$TOKEN_EP" client_id=CAM-2 client_secret=wrong-secret grant_type=refresh_token "refresh_token=$B1"
expect_error 401 invalid_client "wrong secret"
show

step "CAM-2: refresh, revoke the new refresh token, then use it (expect 200, 200, invalid_grant)"
refresh CAM-2 "$B1"
expect_tokens "CAM-2 refresh"
B2=$REFRESH
revoke CAM-2 "$B2"
expect_status 200 "CAM-2 revocation"
show
refresh CAM-2 "$B2"
expect_error 400 invalid_grant "refresh with revoked token"
show

# --- polling again after the tokens came revokes the grant ------------------------------
step "CAM-2: new pairing; poll once more with the used device_code (expect invalid_grant)"
device_auth CAM-2 "$SCOPE"
approve "$USER_CODE"
poll CAM-2 "$DEVICE_CODE"
expect_tokens "CAM-2 poll after approval"
C1=$REFRESH
poll CAM-2 "$DEVICE_CODE"
expect_error 400 invalid_grant "used device_code"
show
refresh CAM-2 "$C1"
expect_error 400 invalid_grant "refresh after the device_code was used twice"
echo "  refresh with the refresh token that poll had issued: HTTP $STATUS $BODY"
echo "  note: the stock server revokes the whole grant when a used device_code comes again"

# --- a person who presses [ Abort ] ---------------------------------------------------
step "CAM-2: device flow denied by the person (approve.mjs --deny)"
device_auth CAM-2 "$SCOPE"
approve "$USER_CODE" --deny
poll CAM-2 "$DEVICE_CODE"
expect_error 400 access_denied "poll after denial"
show

# --- the stock server and Frame.io's scope ----------------------------------------------
STOCK_SCOPE="asset_create offline"
step "stock scope '$STOCK_SCOPE': device authorization"
post_form "$DEVICE_EP" client_id=CAM-1 "client_secret=$SECRET" "scope=$STOCK_SCOPE"
show
expect_status 200 "device authorization with unknown scope (the stock server ignores unknown scopes here)"
DEVICE_CODE=$(jget device_code)
USER_CODE=$(jget user_code)

step "stock scope: poll before approval"
poll CAM-1 "$DEVICE_CODE"
expect_error 400 authorization_pending "poll before approval (stock scope)"
show

step "stock scope: approve.mjs (expect the server to end the flow after login)"
if out=$(node approve.mjs "$BASE" "$USER_CODE" 2>&1); then
  fail "approve.mjs succeeded with scope '$STOCK_SCOPE': $out"
fi
echo "  $out"

step "stock scope: poll after the attempt (expect access_denied)"
poll CAM-1 "$DEVICE_CODE"
expect_error 400 access_denied "poll after attempt with stock scope"
show

elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
printf '\nsmoke.sh: all steps as expected (%d.%03d s)\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
