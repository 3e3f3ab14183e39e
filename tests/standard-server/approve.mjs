// Approves (or denies) an RFC 8628 user_code on the standard server the way a
// person would: through the provider's own HTTP pages, keeping cookies by hand.
//
// Usage: node approve.mjs <base-url> <user_code> [--login NAME] [--deny]
//
//   GET  /device                     user-code page  (form op.deviceInputForm + xsrf)
//   POST /device                     user_code + xsrf -> confirm page (op.deviceConfirmForm)
//   POST /device                     confirm=yes      -> 303 to /interaction/<uid>
//   GET  /interaction/<uid>          login page (any login name, any password)
//   POST /interaction/<uid>/...      prompt=login     -> 303 resume -> 303 consent
//   GET  /interaction/<uid2>         consent page (openid, offline_access)
//   POST /interaction/<uid2>/...     prompt=consent   -> 303 resume -> "Sign-in Success"
//
// With --deny the "[ Abort ]" button of the confirm page is pressed instead;
// the device then gets access_denied at the token endpoint.
//
// Prints APPROVED (or DENIED) and exits 0 on success; otherwise prints the
// reason to stderr and exits 1 (2 for bad usage). At most 30 requests, 20 s.

const MAX_REQUESTS = 30;
const TIMEOUT_MS = 20_000;

function usage(msg) {
  console.error(`approve.mjs: ${msg}`);
  console.error('usage: node approve.mjs <base-url> <user_code> [--login NAME] [--deny]');
  process.exit(2);
}

const args = process.argv.slice(2);
let login = 'c2c-standard-user';
let deny = false;
const positional = [];
for (let i = 0; i < args.length; i += 1) {
  if (args[i] === '--deny') deny = true;
  else if (args[i] === '--login') {
    login = args[i + 1];
    i += 1;
    if (!login) usage('--login needs a value');
  } else positional.push(args[i]);
}
if (positional.length !== 2) usage('expected <base-url> and <user_code>');
const [baseArg, userCode] = positional;
let base;
try {
  base = new URL(baseArg);
} catch {
  usage(`not a URL: ${baseArg}`);
}

const deadline = AbortSignal.timeout(TIMEOUT_MS);
const timer = setTimeout(() => {
  console.error(`approve.mjs: FAILED: no result within ${TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, TIMEOUT_MS + 1000);
timer.unref();

function fail(msg) {
  console.error(`approve.mjs: FAILED: ${msg}`);
  process.exit(1);
}

// --- a minimal cookie jar (name + path; host is always the one server) -----
const jar = new Map(); // key `${path}\u0000${name}` -> { name, value, path }

function defaultPath(url) {
  const p = url.pathname;
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

function storeCookies(url, res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq < 1) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = defaultPath(url);
    let expired = false;
    for (const attr of attrs) {
      const [k, v = ''] = attr.split('=');
      const key = k.trim().toLowerCase();
      if (key === 'path' && v.trim().startsWith('/')) path = v.trim();
      if (key === 'max-age' && Number(v) <= 0) expired = true;
      if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
    }
    const id = `${path}\u0000${name}`;
    if (expired || value === '') jar.delete(id);
    else jar.set(id, { name, value, path });
  }
}

function cookieHeader(url) {
  const p = url.pathname;
  return [...jar.values()]
    .filter((c) => p === c.path || p.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
    .sort((a, b) => b.path.length - a.path.length)
    .map((c) => `${c.name}=${c.value}`)
    .join('; ');
}

// --- HTTP --------------------------------------------------------------------
let requests = 0;

async function request(method, url, form) {
  requests += 1;
  if (requests > MAX_REQUESTS) fail(`more than ${MAX_REQUESTS} requests; last was ${method} ${url.pathname}`);
  if (url.origin !== base.origin) fail(`refusing to leave ${base.origin}: ${url}`);
  const headers = { accept: 'text/html' };
  const cookie = cookieHeader(url);
  if (cookie) headers.cookie = cookie;
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  let res;
  try {
    res = await fetch(url, {
      method, headers, body, redirect: 'manual', signal: deadline,
    });
  } catch (err) {
    fail(`${method} ${url.pathname}: ${err.cause?.message ?? err.message}`);
  }
  storeCookies(url, res);
  const text = await res.text().catch((err) => fail(`reading ${url.pathname}: ${err.message}`));
  return { res, text, url };
}

// --- HTML scraping (the stock pages are small and regular) --------------------
function decode(s) {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#x2F;|&#47;/g, '/')
    .replace(/&amp;/g, '&');
}

function attr(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}="([^"]*)"`, 'i'));
  return m ? decode(m[1]) : undefined;
}

// Forms on the page: { id, action, fields: { name: value } } (hidden inputs only).
function forms(html) {
  const out = [];
  const re = /<form\b([^>]*)>([\s\S]*?)<\/form>/gi;
  let m;
  while ((m = re.exec(html)) !== null) {
    const fields = {};
    for (const input of m[2].match(/<input\b[^>]*>/gi) ?? []) {
      const name = attr(input, 'name');
      if (name && (attr(input, 'type') ?? 'text').toLowerCase() === 'hidden') {
        fields[name] = attr(input, 'value') ?? '';
      }
    }
    out.push({ id: attr(m[1], 'id'), action: attr(m[1], 'action'), fields });
  }
  return out;
}

function pageError(html) {
  const m = html.match(/<p class="red">([\s\S]*?)<\/p>/i);
  return m ? decode(m[1].trim()) : undefined;
}

function title(html) {
  const m = html.match(/<title>([\s\S]*?)<\/title>/i);
  return m ? decode(m[1].trim()) : '(no title)';
}

// --- the walk ------------------------------------------------------------------
let step = await request('GET', new URL('/device', base));
const seen = { input: false, confirm: false, login: false, consent: false };

for (;;) {
  const { res, text, url } = step;
  const where = `${res.status} from ${url.pathname}`;

  if (res.status >= 300 && res.status < 400) {
    const location = res.headers.get('location');
    if (!location) fail(`${where} without Location`);
    step = await request('GET', new URL(location, url));
    continue;
  }
  if (res.status !== 200) {
    const detail = text.match(/<pre>([\s\S]*?)<\/pre>/i)?.[1] ?? text.slice(0, 300);
    fail(`${where}: ${decode(detail.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim())}`);
  }

  const page = title(text);
  const all = forms(text);
  const byId = (id) => all.find((f) => f.id === id);
  const byPrompt = (p) => all.find((f) => f.fields.prompt === p);

  if (page === 'Sign-in Success') {
    if (!seen.login || !seen.consent) fail(`success page before login/consent (${JSON.stringify(seen)})`);
    console.log('APPROVED');
    process.exit(0);
  }

  const input = byId('op.deviceInputForm');
  const confirm = byId('op.deviceConfirmForm');
  const loginForm = byPrompt('login');
  const consentForm = byPrompt('consent');

  if (input) {
    if (seen.login || seen.consent) {
      // The provider ends a failed flow on the user-code page with a message.
      fail(`the server ended the flow after ${seen.consent ? 'consent' : 'login'}: ${pageError(text) ?? page}`);
    }
    if (seen.input) {
      fail(`user code ${userCode} was not accepted: ${pageError(text) ?? page}`);
    }
    seen.input = true;
    step = await request('POST', new URL(input.action, url), { ...input.fields, user_code: userCode });
  } else if (confirm) {
    if (seen.confirm) fail('confirm page shown twice');
    seen.confirm = true;
    const fields = { ...confirm.fields };
    if (deny) {
      delete fields.confirm;
      fields.abort = 'yes';
      const denied = await request('POST', new URL(confirm.action, url), fields);
      const msg = denied.res.status === 200 ? pageError(denied.text) : undefined;
      if (msg && /interrupted/i.test(msg)) {
        console.log('DENIED');
        process.exit(0);
      }
      fail(`abort gave ${denied.res.status}: ${msg ?? title(denied.text)}`);
    }
    step = await request('POST', new URL(confirm.action, url), fields);
  } else if (loginForm) {
    if (seen.login) fail('login page shown twice (login not accepted?)');
    seen.login = true;
    step = await request('POST', new URL(loginForm.action, url), {
      ...loginForm.fields, login, password: 'any-password',
    });
  } else if (consentForm) {
    if (seen.consent) fail('consent page shown twice (consent not accepted?)');
    seen.consent = true;
    step = await request('POST', new URL(consentForm.action, url), consentForm.fields);
  } else {
    fail(`unexpected page "${page}" at ${url.pathname}${pageError(text) ? `: ${pageError(text)}` : ''}`);
  }
}
