// The app: sign-in with an API key, then pages chosen by the URL's
// fragment (#/overview, #/metric?name=..., #/sleep, #/workouts,
// #/workouts/<id>, #/keys, #/uploads). Each page renders into <main> and
// marks itself ready (performance mark "hx-ready:<page>", and
// body[data-ready]) once its data is drawn.
import { h, replace, message, field } from './dom.js';
import { key, setKey, clearKey, request, onUnauthorized, ApiError } from './api.js';
import * as overview from './overview.js';
import * as metric from './metric.js';
import * as sleep from './sleep.js';
import * as workouts from './workouts.js';
import * as keys from './keys.js';
import * as uploads from './uploads.js';

const PAGES = { overview, metric, sleep, workouts, keys, uploads };
const NAV = [
  ['overview', 'Overview'],
  ['metric', 'Metrics'],
  ['sleep', 'Sleep'],
  ['workouts', 'Workouts'],
  ['keys', 'Keys'],
  ['uploads', 'Uploads'],
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signOut = document.getElementById('signout');
let cleanup = null;
let generation = 0;

// route parses the fragment: #/name/rest?query.
function route() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, q = ''] = raw.split('?');
  const [name, ...rest] = path.split('/');
  return { name: PAGES[name] ? name : 'overview', arg: rest.map(decodeURIComponent).join('/'), params: new URLSearchParams(q) };
}

// go navigates to a page with parameters.
export function go(name, params = {}, arg = '') {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString();
  location.hash = `#/${name}${arg ? `/${encodeURIComponent(arg)}` : ''}${q ? `?${q}` : ''}`;
}

// ready marks the page drawn (the browser test measures it).
export function ready(name) {
  performance.mark(`hx-ready:${name}`);
  document.body.dataset.ready = name;
}

async function show() {
  const gen = ++generation;
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  delete document.body.dataset.ready;
  if (!key()) {
    renderSignIn();
    return;
  }
  nav.hidden = false;
  signOut.hidden = false;
  const r = route();
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.page === r.name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  replace(main, h('p.loading', { role: 'status' }, 'Loading…'));
  const ctx = { go, ready: () => gen === generation && ready(r.name), alive: () => gen === generation };
  try {
    cleanup = (await PAGES[r.name].render(main, r, ctx)) || null;
  } catch (err) {
    if (gen !== generation) return;
    replace(main, h('h1', { tabindex: -1 }, 'Something went wrong'), message(err.message, 'error'));
    if (!(err instanceof ApiError)) console.warn(err); // eslint-disable-line no-console
  }
}

function renderSignIn(note, kind = 'info') {
  nav.hidden = true;
  signOut.hidden = true;
  const input = h('input', { type: 'password', name: 'key', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'hx_…', 'aria-describedby': 'key-help' });
  const out = h('div', { 'aria-live': 'polite' }, note ? message(note, kind) : null);
  const form = h('form.signin', { 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', tabindex: -1 }, 'Sign in'),
    h('p', { id: 'key-help' }, 'Paste an API key that may read (the "read" scope). It stays in this tab only, and is forgotten when you sign out or close the tab.'),
    field('API key', input),
    h('button', { type: 'submit' }, 'Sign in'),
    out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const k = input.value.trim();
    if (!/^hx_[A-Za-z0-9]+_[A-Za-z0-9]+$/.test(k)) {
      replace(out, message('That is not an API key: keys look like hx_… (as healthctl or make run printed it).', 'error'));
      return;
    }
    replace(out, message('Checking the key…'));
    try {
      // A read route tells the key's scopes: 403 is a key that may only upload.
      await request('/v1/workouts?limit=1', { token: k });
    } catch (err) {
      if (err.status === 403) {
        replace(out, message('This key may upload but not read: it has no "read" scope. Sign in with a key that has it (healthctl keys create --scopes read,ingest, or create one on the Keys page with such a key).', 'error'));
      } else {
        replace(out, message(err.message, 'error'));
      }
      input.focus();
      return;
    }
    input.value = '';
    setKey(k);
    if (!location.hash || location.hash === '#/' || location.hash === '#') go('overview');
    else show();
  });
  replace(main, form);
  ready('signin');
  input.focus();
}

function buildNav() {
  replace(nav, h('ul', {}, NAV.map(([name, label]) => h('li', {}, h('a', { href: `#/${name}`, 'data-page': name }, label)))));
}

signOut.addEventListener('click', () => {
  clearKey();
  history.replaceState(null, '', location.pathname);
  generation++;
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  renderSignIn('Signed out: the key is forgotten in this tab.');
});

onUnauthorized(() => {
  clearKey();
  generation++;
  renderSignIn('This key no longer works (it may have been revoked): sign in again.', 'error');
});

buildNav();
window.addEventListener('hashchange', show);
show();
