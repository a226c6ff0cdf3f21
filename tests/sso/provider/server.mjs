// A real OpenID Connect provider (npm `oidc-provider` 9.x) for Archive Vault's SSO tests.
//
// Environment:
//   PORT              port to listen on, on 127.0.0.1 (required); issuer is http://127.0.0.1:PORT
//   ACCOUNTS_FILE     JSON object keyed by account id: {email, name, groups[], hired_on?, leaving_on?}
//   REDIRECT_URIS     comma separated (default http://127.0.0.1:5000/auth/callback)
//   POST_LOGOUT_URIS  comma separated (optional)
//   JWKS_FILE         optional: the signing JWKS is read from this file, or generated and
//                     written there, so a restart keeps the same keys (sessions do not survive)
//
// Prints "READY <issuer>" on stdout once listening; exits 0 on SIGTERM / SIGINT.
// Test-only: in-memory storage, the built-in devInteractions login form (any password);
// an unknown account id sends the client error=access_denied.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

const list = (value) => (value || '').split(',').map((s) => s.trim()).filter(Boolean);

const port = Number.parseInt(process.env.PORT || '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('server.mjs: set PORT to a TCP port');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

let accounts = {};
if (process.env.ACCOUNTS_FILE) {
  accounts = JSON.parse(readFileSync(process.env.ACCOUNTS_FILE, 'utf8'));
}
const redirectUris = list(process.env.REDIRECT_URIS);
const postLogoutUris = list(process.env.POST_LOGOUT_URIS);

// An RS256 signing key generated per run (supplying jwks also avoids the dev-keys warning).
// With JWKS_FILE it is kept across restarts, like a real provider's keys.
function signingJwks() {
  const file = process.env.JWKS_FILE;
  if (file && existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwks = {
    keys: [{
      ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256',
    }],
  };
  if (file) writeFileSync(file, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}

function claimsOf(accountId, account) {
  const claims = {
    sub: accountId,
    email: account.email,
    email_verified: true,
    name: account.name,
    groups: Array.isArray(account.groups) ? account.groups : [],
  };
  // Custom employment claims: ISO dates (YYYY-MM-DD) or absent.
  if (account.hired_on) claims.hired_on = account.hired_on;
  if (account.leaving_on) claims.leaving_on = account.leaving_on;
  return claims;
}

const configuration = {
  clients: [{
    client_id: 'archive-vault',
    client_secret: 'vault-test-secret',
    redirect_uris: redirectUris.length ? redirectUris : ['http://127.0.0.1:5000/auth/callback'],
    post_logout_redirect_uris: postLogoutUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // A client registers exactly one method; the provider rejects the others.
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // PKCE for every client, confidential included (v9 only insists for public clients).
  pkce: { required: () => true },
  responseTypes: ['code'],
  conformIdTokenClaims: false,
  acrValues: ['urn:test:pwd', 'urn:test:mfa'],
  scopes: ['openid', 'profile', 'email', 'groups', 'employment'],
  claims: {
    // How the person authenticated (chosen per login, see interactionFinished below).
    openid: ['sub', 'acr', 'amr'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
    employment: ['hired_on', 'leaving_on'],
  },
  async findAccount(ctx, id) {
    if (!Object.hasOwn(accounts, id)) return undefined;
    const account = accounts[id];
    return {
      accountId: id,
      async claims() {
        return claimsOf(id, account);
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  cookies: {
    keys: ['archive-vault-oidc-test-cookie-key-1', 'archive-vault-oidc-test-cookie-key-2'],
  },
  jwks: signingJwks(),
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, err) => {
  console.error('server_error', err);
});

// oidc-provider answers 500 when findAccount returns undefined after a login, so the
// devInteractions login of an unknown account id ends the flow instead: the client gets
// error=access_denied at its redirect_uri (any password is accepted for known accounts).
//
// How the person authenticated is chosen per login: the login "adam+otp+hwk" signs in
// account "adam" with amr ["pwd", "otp", "hwk"], and a part "acr=<value>" sets acr (the
// ID token carries both); a plain "adam" has amr ["pwd"] and no acr.
const interactionFinished = provider.interactionFinished.bind(provider);
provider.interactionFinished = (req, res, result, options) => {
  if (typeof result?.login?.accountId === 'string' && result.login.accountId.includes('+')) {
    const [id, ...parts] = result.login.accountId.split('+');
    const acr = parts.find((p) => p.startsWith('acr='));
    result = {
      ...result,
      login: {
        ...result.login,
        accountId: id,
        amr: ['pwd', ...parts.filter((p) => p && !p.startsWith('acr='))],
        ...(acr ? { acr: acr.slice(4) } : {}),
      },
    };
  } else if (typeof result?.login?.accountId === 'string') {
    result = { ...result, login: { ...result.login, amr: ['pwd'] } };
  }
  const accountId = result?.login?.accountId;
  if (accountId !== undefined && !Object.hasOwn(accounts, accountId)) {
    return interactionFinished(req, res, {
      error: 'access_denied', error_description: 'unknown account or wrong password',
    }, { ...options, mergeWithLastSubmission: false });
  }
  return interactionFinished(req, res, result, options);
};

const server = http.createServer(provider.callback());

function shutdown(signal) {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  // Never hang the test run on a stuck socket.
  setTimeout(() => process.exit(0), 2000).unref();
  console.log(`STOPPING on ${signal}`);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

server.on('error', (err) => {
  console.error(`server.mjs: cannot listen on 127.0.0.1:${port}: ${err.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
