// Keys: the user's API keys; a new one is shown once, with a QR code and
// the settings to type into Health Auto Export; revoking takes a second
// click to confirm.
import { h, replace, wall, message, field, table } from './dom.js';
import { request, keyID } from './api.js';
import { qr } from './charts.js';

export async function render(main, route, ctx) {
  let res;
  try {
    res = await request('/v1/keys');
  } catch (err) {
    if (err.status !== 403) throw err;
    if (!ctx.alive()) return null;
    replace(main, h('h1', { tabindex: -1 }, 'Keys'),
      message('This key may not manage keys (it has no "keys" scope). Sign in with one that has it: the key make run prints, or healthctl keys create --scopes read,ingest,keys.', 'error'));
    ctx.ready();
    return null;
  }
  if (!ctx.alive()) return null;
  const mine = keyID();
  const out = h('div', { 'aria-live': 'polite' });
  const name = h('input', { type: 'text', maxlength: 100, required: true, placeholder: 'Ana’s iPhone' });
  const ingest = h('input', { type: 'checkbox', checked: true });
  const read = h('input', { type: 'checkbox' });
  const manage = h('input', { type: 'checkbox' });
  const form = h('form', { 'aria-labelledby': 'new-key' },
    h('h2', { id: 'new-key' }, 'New key'),
    h('div.controls', {},
      field('Name', name),
      h('fieldset', {}, h('legend', {}, 'May'),
        h('label.check', {}, ingest, 'upload (ingest)'),
        h('label.check', {}, read, 'read the data'),
        h('label.check', {}, manage, 'manage keys')),
      h('button.primary', { type: 'submit' }, 'Create key')),
    h('p.hint', {}, 'A phone needs only "upload": if it is lost, its key cannot read your history. A key may only give the permissions it has; revoking a key also revokes the keys made with it.'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const scopes = [ingest.checked && 'ingest', read.checked && 'read', manage.checked && 'keys'].filter(Boolean);
    if (!scopes.length) {
      replace(out, message('Choose at least one thing the key may do.', 'error'));
      return;
    }
    try {
      const k = await request('/v1/keys', { method: 'POST', body: { name: name.value.trim(), scopes } });
      name.value = '';
      replace(out, shown(k));
      list(await request('/v1/keys'));
      out.querySelector('h2')?.focus();
    } catch (err) {
      replace(out, message(err.message, 'error'));
    }
  });

  const listBox = h('div');
  const list = (r) => replace(listBox, table('Your keys', [
    ['Name', (k) => [k.name || '(no name)', k.id === mine ? h('span.muted', {}, ' (signed in with it)') : null]],
    ['Id', (k) => h('code', {}, k.id)],
    ['May', (k) => (k.scopes || []).join(', ')],
    ['Made with', (k) => (k.created_by ? h('code', {}, k.created_by) : 'healthctl')],
    ['Created', (k) => wall(k.created_at)],
    ['Last used', (k) => wall(k.last_used_at)],
    ['State', (k) => (k.revoked_at ? `revoked ${wall(k.revoked_at)}` : 'active')],
    ['', (k) => (k.revoked_at ? '' : revokeButton(k, k.id === mine, out, async () => {
      if (k.id === mine) {
        document.getElementById('signout').click();
        return;
      }
      list(await request('/v1/keys'));
    }))],
  ], r.keys));
  list(res);
  replace(main, h('h1', { tabindex: -1 }, 'Keys'), out, form, listBox);
  ctx.ready();
  return null;
}

function revokeButton(k, mine, out, done) {
  const box = h('div.row-actions');
  const ask = h('button.danger', { type: 'button', 'aria-label': `Revoke the key ${k.name || k.id}` }, 'Revoke');
  ask.addEventListener('click', () => {
    const yes = h('button.danger', { type: 'button' }, mine ? 'Yes, revoke (signs you out)' : 'Yes, revoke');
    const no = h('button', { type: 'button' }, 'Cancel');
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      try {
        await request(`/v1/keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
        replace(out, message(`The key ${k.name || k.id} is revoked, with the keys made with it: every edge refuses them now.`, 'ok'));
        await done();
      } catch (err) {
        replace(out, message(err.message, 'error'));
        yes.disabled = false;
      }
    });
    no.addEventListener('click', () => {
      replace(box, ask);
      ask.focus();
    });
    replace(box, yes, no);
    no.focus();
  });
  return replace(box, ask);
}

// shown is the new key, once: the key, a QR code of it, and Health Auto
// Export's settings.
function shown(k) {
  const url = `${location.origin}/v1/ingest`;
  const text = h('code.keytext', { 'data-key': '' }, k.key);
  const copy = h('button', { type: 'button' }, 'Copy the key');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(k.key);
      copy.textContent = 'Copied';
    } catch {
      getSelection().selectAllChildren(text);
      copy.textContent = 'Selected: copy it';
    }
  });
  return h('section.newkey', { 'aria-labelledby': 'shown-key' },
    h('h2', { id: 'shown-key', tabindex: -1 }, `Your new key “${k.name || k.id}”`),
    h('p', {}, h('strong', {}, 'It is shown only now: copy it or scan it. '), `It may ${k.scopes.join(' and ')}.`),
    text, h('p', {}, copy),
    qr(k.key, 'QR code of the new key'),
    h('h3', {}, 'In Health Auto Export'),
    h('p', {}, 'Automations → new automation → REST API, then:'),
    h('dl.facts.settings', {},
      h('dt', {}, 'URL'), h('dd', {}, h('code', {}, url)),
      h('dt', {}, 'Headers'), h('dd', {}, 'key ', h('code', {}, 'Authorization'), ', value ', h('code', {}, `Bearer ${k.key}`)),
      h('dt', {}, 'Export format'), h('dd', {}, h('code', {}, 'JSON')),
      h('dt', {}, 'Batch requests'), h('dd', {}, 'on, for a long history (each request counts against the key’s hourly limit)')),
    h('p.hint', {}, 'Behind a proxy with TLS, use its https address instead of this one.'));
}
