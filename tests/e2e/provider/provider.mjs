// A real OpenID provider (panva/oidc-provider) for the end-to-end logout tests.
//
//   TLS_CERT=cert.pem TLS_KEY=key.pem node provider.mjs PORT   (or OP_PORT=PORT)
//
// With TLS_CERT and TLS_KEY (PEM files) it serves HTTPS, as a provider in
// production does; without them, plain HTTP.  Only over HTTPS does it take
// the logout parameters by form POST too (RP-Initiated Logout 1.0, section 2):
// oidc-provider accepts POST only when its session cookie is SameSite=None,
// which browsers keep only with Secure, which needs HTTPS.
//
// RP_PORTS is a JSON object {"client_id": port, ...}: each entry registers a
// confidential client whose RP runs at http://127.0.0.1:<port>, with
// /callback as redirect URI and /logout/callback (the logout middleware's
// callback) as post-logout redirect URI.  CLIENT_SECRET is the secret of
// every client.  Token revocation (RFC 7009) and introspection (RFC 7662)
// are on: the middleware revokes the RP's tokens at logout, and the tests
// ask the introspection endpoint whether they are still active.  Everything
// is in memory and lost when the process ends, which is what a test wants.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.OP_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node provider.mjs PORT (or set OP_PORT)');
  process.exit(2);
}
const rpPorts = JSON.parse(process.env.RP_PORTS ?? '{}');
const clientSecret = process.env.CLIENT_SECRET ?? 'e2e-client-secret';
const tls = process.env.TLS_CERT && process.env.TLS_KEY
  ? { cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY) }
  : null;

// A fresh signing key per run, so that the provider does not fall back to its
// built-in development key (and warn about it).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'e2e' };

const clients = Object.entries(rpPorts).map(([clientId, rpPort]) => ({
  client_id: clientId,
  client_secret: clientSecret,
  token_endpoint_auth_method: 'client_secret_basic',
  response_types: ['code'],
  // refresh_token: a sign-in with offline_access (and prompt=consent) gets a refresh token.
  grant_types: ['authorization_code', 'refresh_token'],
  redirect_uris: [`http://127.0.0.1:${rpPort}/callback`],
  post_logout_redirect_uris: [`http://127.0.0.1:${rpPort}/logout/callback`],
}));

// A client may revoke and introspect its own tokens only.  Spelled out, so
// that the provider does not warn about its default policies.
const ownTokensOnly = async (ctx, client, token) => token.clientId === client.clientId;

const provider = new Provider(`${tls ? 'https' : 'http'}://127.0.0.1:${port}`, {
  // No adapter given: oidc-provider keeps sessions, grants and codes in memory.
  clients,
  jwks: { keys: [signingKey] },
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
    revocation: { enabled: true, allowedPolicy: ownTokensOnly },
    introspection: { enabled: true, allowedPolicy: ownTokensOnly },
  },
});

// Print why a request failed (a refused id_token_hint, an unregistered
// post_logout_redirect_uri, ...) so that the test log tells it.
const errorEvents = [
  'server_error', 'end_session.error', 'authorization.error', 'grant.error', 'revocation.error', 'introspection.error',
];
for (const event of errorEvents) {
  provider.on(event, (ctx, err) => console.error(`${event}: ${err.name}: ${err.message} ${err.error_description ?? ''}`));
}

// And what was revoked, by a revocation request or a logout.
provider.on('grant.revoked', (ctx, grantId) => console.log(`grant.revoked: ${grantId} (${ctx.oidc.route})`));

// Bind to loopback only: the tests never need anything else.
const server = tls ? createServer(tls, provider.callback()) : provider;
server.listen(port, '127.0.0.1', () => {
  console.log(`ready ${provider.issuer} clients=${clients.map((c) => c.client_id).join(',')}`);
});

// The test harness stops the provider with SIGTERM; exit at once and quietly.
process.on('SIGTERM', () => process.exit(0));
