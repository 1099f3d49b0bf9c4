// A real OpenID Connect provider for the tests: panva's oidc-provider (OpenID certified), run
// as a process of its own by testing/oidc.py. Nothing here is a mock: discovery, the
// authorization endpoint, PKCE, nonce, signed ID tokens, the token and userinfo endpoints are
// the library's. Only the sign-in page is ours: it has no password, the tester names the
// account (by `sub` or email) and consent is granted with it.
//
// Configuration: one JSON object, in argv[2] or the OIDC_PROVIDER_CONFIG environment variable:
//   {"host": "127.0.0.1", "port": 0,
//    "clients": [{"client_id", "client_secret", "redirect_uris": [...],
//                 "token_endpoint_auth_method"?: "client_secret_post" | "client_secret_basic"}],
//    "accounts": [{"sub", "email", "email_verified", "name"?}]}
// Port 0 picks a free port. Once listening, the process prints one JSON line on stdout,
// {"issuer": "http://127.0.0.1:PORT"}, and serves until SIGTERM.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2] || process.env.OIDC_PROVIDER_CONFIG || '{}');
const host = config.host || '127.0.0.1';
const accounts = config.accounts || [];
const clients = (config.clients || []).map((client) => ({
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_post',
  ...client,
}));

function accountNamed(name) {
  return accounts.find((account) => account.sub === name || account.email === name);
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

let provider;

async function grantAndFinish(req, res, accountId) {
  const details = await provider.interactionDetails(req, res);
  const { params } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  const grantId = await grant.save();
  const result = { consent: { grantId } };
  if (details.prompt.name === 'login') result.login = { accountId };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

// GET /interaction/:uid shows a form naming the account; POST /interaction/:uid/login signs it
// in. A prompt for consent alone (an existing session) is granted at once.
async function interaction(req, res, url) {
  const [, , uid, action] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('interaction mismatch');
    return;
  }
  if (req.method === 'GET' && !action) {
    if (details.prompt.name !== 'login') {
      await grantAndFinish(req, res, details.session.accountId);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Sign in</title>
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Account <input name="login" autofocus></label><button type="submit">Sign in</button>
</form>`);
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const account = accountNamed(form.get('login') || '');
    if (!account) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('unknown account');
      return;
    }
    await grantAndFinish(req, res, account.sub);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  if (url.pathname.startsWith('/interaction/')) {
    interaction(req, res, url).catch((error) => {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error.message || error));
    });
    return;
  }
  provider.callback()(req, res);
});

server.listen(config.port || 0, host, () => {
  const issuer = `http://${host}:${server.address().port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  provider = new Provider(issuer, {
    clients,
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    // Every client must send a PKCE challenge (S256), confidential ones too.
    pkce: { required: () => true },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // The ID token carries the scopes' claims as well as userinfo does.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      const account = accounts.find((candidate) => candidate.sub === id);
      if (!account) return undefined;
      return {
        accountId: account.sub,
        async claims() {
          return {
            sub: account.sub,
            email: account.email,
            email_verified: Boolean(account.email_verified),
            ...(account.name ? { name: account.name } : {}),
          };
        },
      };
    },
  });
  provider.on('server_error', (ctx, error) => console.error('server_error', error));
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
