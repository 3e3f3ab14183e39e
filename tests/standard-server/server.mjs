// Standard OAuth 2.0 / OpenID Connect server for pairing tests: panva's
// oidc-provider (certified, not written by us) with the Device Authorization
// Grant (RFC 8628), token revocation (RFC 7009) and rotating refresh tokens.
//
// Usage: node server.mjs [port]      (or PORT=<port>; 0 or nothing = a free port)
// Env:   CLIENT_IDS        comma-separated client ids to register (default CAM-1,CAM-2)
//        CLIENT_SECRET     their shared secret (default standard-secret)
//        ACCESS_TOKEN_TTL  optional access token lifetime in seconds (stock: 3600),
//                          to test refreshing after expiry without waiting an hour
//
// Listens on 127.0.0.1 only. Prints exactly one line to stdout once listening:
//   LISTENING http://127.0.0.1:<port>
// Everything else (provider warnings, errors) goes to stderr.

import http from 'node:http';

// oidc-provider prints its NOTICEs with console.info (stdout); the only stdout
// line this process may print is the LISTENING line, so send the rest to stderr.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

const { default: Provider } = await import('oidc-provider');

const portArg = process.argv[2] ?? process.env.PORT ?? '0';
const port = Number(portArg);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`server.mjs: bad port ${JSON.stringify(portArg)}`);
  process.exit(2);
}

const clientIds = (process.env.CLIENT_IDS ?? 'CAM-1,CAM-2')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const clientSecret = process.env.CLIENT_SECRET ?? 'standard-secret';
if (clientIds.length === 0) {
  console.error('server.mjs: CLIENT_IDS is empty');
  process.exit(2);
}
const accessTokenTtl = process.env.ACCESS_TOKEN_TTL ? Number(process.env.ACCESS_TOKEN_TTL) : undefined;
if (accessTokenTtl !== undefined && !(Number.isInteger(accessTokenTtl) && accessTokenTtl > 0)) {
  console.error(`server.mjs: bad ACCESS_TOKEN_TTL ${JSON.stringify(process.env.ACCESS_TOKEN_TTL)}`);
  process.exit(2);
}

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

function configuration() {
  return {
    clients: clientIds.map((clientId) => ({
      client_id: clientId,
      client_secret: clientSecret,
      // client_id and client_secret in the urlencoded form body.
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: [DEVICE_CODE_GRANT, 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    })),
    features: {
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      // Stock development login/consent pages (any login name is accepted).
      devInteractions: { enabled: true },
    },
    // Every refresh_token grant consumes the presented refresh token and
    // issues a new one; presenting a consumed one is refused (and, stock
    // behaviour, revokes the whole grant).
    rotateRefreshToken: true,
    // Fixed keys so cookie signing needs no generated state; test-only.
    cookies: { keys: ['c2c-standard-server-test-only-cookie-key'] },
    ...(accessTokenTtl ? { ttl: { AccessToken: accessTokenTtl } } : {}),
  };
}

let handler = (req, res) => {
  res.statusCode = 503;
  res.end('starting');
};

const server = http.createServer((req, res) => handler(req, res));
server.on('error', (err) => {
  console.error(`server.mjs: ${err.message}`);
  process.exit(1);
});

server.listen(port, '127.0.0.1', () => {
  const actualPort = server.address().port;
  const issuer = `http://127.0.0.1:${actualPort}`;
  let provider;
  try {
    provider = new Provider(issuer, configuration());
  } catch (err) {
    console.error(`server.mjs: provider configuration rejected: ${err.stack ?? err}`);
    process.exit(1);
  }
  provider.on('server_error', (ctx, err) => {
    console.error(`server.mjs: server_error on ${ctx.method} ${ctx.path}: ${err.stack ?? err}`);
  });
  handler = provider.callback();
  process.stdout.write(`LISTENING ${issuer}\n`);
});

function shutdown() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
