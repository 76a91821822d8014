// A real OpenID provider (panva/oidc-provider), on this machine only: the one
// `python examples/demo.py` signs in at, and the one the end-to-end tests drive.
//
//   RP_CLIENTS='[...]' TLS_CERT=cert.pem TLS_KEY=key.pem node provider.mjs PORT   (or OP_PORT=PORT)
//
// With TLS_CERT and TLS_KEY (PEM files) it serves HTTPS, as a provider in
// production does; without them, plain HTTP (the demo).  Only over HTTPS does
// it take the logout parameters by form POST too (RP-Initiated Logout 1.0,
// section 2): oidc-provider accepts POST only when its session cookie is
// SameSite=None, which browsers keep only with Secure, which needs HTTPS.
//
// RP_CLIENTS is a JSON array of clients, each
//
//   {"client_id": "my-rp", "urls": ["http://127.0.0.1:8000", ...],
//    "backchannel_logout_uri": "http://127.0.0.1:8000/backchannel-logout"}
//
// registering a confidential client whose app runs at each of "urls" (one
// client may have several instances), with <url>/callback as redirect URI
// and <url>/logout/callback (the logout middleware's callback) as
// post-logout redirect URI.  With "backchannel_logout_uri", the provider
// POSTs a logout token there (Back-Channel Logout 1.0) for every session of
// the client that ends here, and puts "sid" in the client's ID tokens.
// CLIENT_SECRET is the secret of every client.
//
// Token revocation (RFC 7009) and introspection (RFC 7662) are on: the
// middleware revokes the RP's tokens at logout, and the tests ask the
// introspection endpoint whether they are still active.  Everything is in
// memory and lost when the process ends, which is what a demo or a test wants.
// Each request is logged as one line (method, path, status; never the query,
// which holds tokens), and so is each back-channel logout sent.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.OP_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node provider.mjs PORT (or set OP_PORT)');
  process.exit(2);
}
const rpClients = JSON.parse(process.env.RP_CLIENTS ?? '[]');
const clientSecret = process.env.CLIENT_SECRET ?? 'e2e-client-secret';
const tls = process.env.TLS_CERT && process.env.TLS_KEY
  ? { cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY) }
  : null;

// A fresh signing key per run, so that the provider does not fall back to its
// built-in development key (and warn about it).  RS256 only: ID tokens and
// logout tokens are signed with it, and discovery names only it.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'op' };

const clients = rpClients.map(({ client_id: clientId, urls, backchannel_logout_uri: backchannelLogoutUri }) => ({
  client_id: clientId,
  client_secret: clientSecret,
  token_endpoint_auth_method: 'client_secret_basic',
  response_types: ['code'],
  // refresh_token: a sign-in with offline_access (and prompt=consent) gets a refresh token.
  grant_types: ['authorization_code', 'refresh_token'],
  redirect_uris: urls.map((url) => `${url}/callback`),
  post_logout_redirect_uris: urls.map((url) => `${url}/logout/callback`),
  ...(backchannelLogoutUri
    ? { backchannel_logout_uri: backchannelLogoutUri, backchannel_logout_session_required: true }
    : {}),
}));

// A client may revoke and introspect its own tokens only.  Spelled out, so
// that the provider does not warn about its default policies.
const ownTokensOnly = async (ctx, client, token) => token.clientId === client.clientId;

// oidc-provider refuses to send requests to special-use addresses such as
// 127.0.0.1 (its SSRF protection, a dispatcher it passes in `options`).  The
// RPs' back-channel logout URIs are on this machine, so requests to loopback
// go out through Node's default dispatcher instead; any other host keeps the
// protection.  The RPs serve plain HTTP, so no CA is needed for them.
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
function fetchAllowingLoopback(url, options) {
  if (LOOPBACK.has(new URL(url).hostname)) {
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(url, rest);
  }
  return globalThis.fetch(url, options);
}

const provider = new Provider(`${tls ? 'https' : 'http'}://127.0.0.1:${port}`, {
  // No adapter given: oidc-provider keeps sessions, grants and codes in memory.
  clients,
  jwks: { keys: [signingKey] },
  enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  fetch: fetchAllowingLoopback,
  cookies: {
    // Signs the provider's own cookies; random, as nothing outlives the process.
    keys: [randomBytes(32).toString('hex')],
    // The session cookie must come along with a logout form POSTed from the RP's page.
    ...(tls ? { long: { httpOnly: true, sameSite: 'none' } } : {}),
  },
  // POST at the end-session endpoint (and the authorization endpoint).
  enableHttpPostMethods: Boolean(tls),
  features: {
    // The built-in login and consent pages: any username and password sign in.
    devInteractions: { enabled: true },
    // On by default; spelled out because it is what the tests exercise.
    rpInitiatedLogout: { enabled: true },
    backchannelLogout: { enabled: true },
    revocation: { enabled: true, allowedPolicy: ownTokensOnly },
    introspection: { enabled: true, allowedPolicy: ownTokensOnly },
  },
});

// One line per request, after it is answered.
provider.use(async (ctx, next) => {
  await next();
  console.log(`${ctx.method} ${ctx.path} -> ${ctx.status}`);
});

// Print why a request failed (a refused id_token_hint, an unregistered
// post_logout_redirect_uri, ...) so that the log tells it.
const errorEvents = [
  'server_error', 'end_session.error', 'authorization.error', 'grant.error', 'revocation.error', 'introspection.error',
];
for (const event of errorEvents) {
  provider.on(event, (ctx, err) => console.error(`${event}: ${err.name}: ${err.message} ${err.error_description ?? ''}`));
}

// What was revoked, by a revocation request or a logout, and every logout token sent.
provider.on('grant.revoked', (ctx, grantId) => console.log(`grant.revoked: ${grantId} (${ctx.oidc.route})`));
provider.on('backchannel.success', (ctx, client, accountId, sid) => {
  console.log(`backchannel.success: ${client.clientId} sid=${sid} -> ${client.backchannelLogoutUri}`);
});
provider.on('backchannel.error', (ctx, err, client, accountId, sid) => {
  console.error(`backchannel.error: ${client.clientId} sid=${sid} -> ${client.backchannelLogoutUri}: ${err.message}`);
});

// Bind to loopback only: nothing else needs it.
const server = tls ? createServer(tls, provider.callback()) : provider;
server.listen(port, '127.0.0.1', () => {
  console.log(`ready ${provider.issuer} clients=${clients.map((c) => c.client_id).join(',')}`);
});

// The test harness stops the provider with SIGTERM, Ctrl-C sends SIGINT: exit at once and quietly.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
// With OP_EXIT_WITH_STDIN, exit when stdin closes: the demo holds it open, so
// the provider never outlives it, however the demo ends.
if (process.env.OP_EXIT_WITH_STDIN) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
