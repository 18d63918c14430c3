// Uploads: the latest uploads and imports with their status and what was
// rejected (JSON pointer and reason); and the Health app's export.zip sent
// by drag and drop (or chosen), with the upload's progress, then the
// import's.
import { h, replace, num, bytes, message, table } from './dom.js';
import { request, query, key } from './api.js';

const PAGE = 20;

export async function render(main, route, ctx) {
  const first = await request(query('/v1/ingestions', { limit: PAGE }));
  if (!ctx.alive()) return null;
  const listBox = h('div');
  const more = h('button', { type: 'button', hidden: !first.next }, 'Older uploads');
  let shown = [...first.ingestions];
  let next = first.next;
  const draw = () => replace(listBox, shown.length ? uploadsTable(shown) : message('No uploads yet.'));
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const page = await request(query('/v1/ingestions', { limit: PAGE, cursor: next }));
      shown = shown.concat(page.ingestions);
      next = page.next;
      more.hidden = !next;
      draw();
    } finally {
      more.disabled = false;
    }
  });
  draw();
  const imp = importer(ctx);
  replace(main, h('h1', { tabindex: -1 }, 'Uploads'), imp.el, h('h2', {}, 'Latest uploads'), listBox, h('p', {}, more));
  ctx.ready();
  return imp.stop;
}

function state(u) {
  if (u.complete) return h('span.status-ok', {}, 'written');
  if (u.failed) return h('span.status-bad', {}, `${u.failed} part${u.failed === 1 ? '' : 's'} given up: an operator must replay`);
  return h('span.status-wait', {}, `in progress (${u.written} of ${u.parts} parts written)`);
}

function uploadsTable(list) {
  return table('Uploads and imports, newest first', [
    ['Received', (u) => new Date(u.received_at).toLocaleString()],
    ['From', (u) => [u.origin === 'import' ? 'Health app export' : 'upload', u.headers?.['automation-name'] ? ` · ${u.headers['automation-name']}` : '']],
    ['Size', (u) => bytes(u.body_bytes || 0)],
    ['Accepted', (u) => Object.entries(u.accepted || {}).map(([k, n]) => `${k} ${num(n)}`).join(', ') || '–'],
    ['Status', state],
    ['Rejected', (u) => (u.rejected ? [
      `${num(u.rejected)} item${u.rejected === 1 ? '' : 's'}`,
      h('ul.errors', {}, (u.errors || []).map((e) => h('li', {}, h('code', {}, e.pointer), ': ', e.reason))),
      u.rejected > (u.errors || []).length ? h('span.muted', {}, `and ${num(u.rejected - u.errors.length)} more`) : null,
    ] : 'none')],
  ], list);
}

// importer is the export.zip drop zone: the file goes to POST /v1/imports
// (XMLHttpRequest: fetch cannot report an upload's progress), then the
// import's status is asked for now and then until it is done.
function importer(ctx) {
  const input = h('input', { type: 'file', accept: '.zip,.xml,application/zip,application/xml', id: 'export-file' });
  const progress = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const out = h('div', { 'aria-live': 'polite' });
  const zone = h('div.drop', {},
    h('p', {}, 'Drop the Health app’s export.zip here, or ',
      h('label', { for: 'export-file' }, 'choose it: '), input),
    h('p.hint', {}, 'Health app → your picture → Export All Health Data. Importing the same file again changes nothing.'),
    progress, out);
  let timer = null;
  let xhr = null;
  const stop = () => {
    clearTimeout(timer);
    if (xhr) xhr.abort();
  };
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (e.dataTransfer.files.length) send(e.dataTransfer.files[0]);
  });
  input.addEventListener('change', () => input.files.length && send(input.files[0]));

  function send(file) {
    const isXML = /\.xml$/i.test(file.name);
    progress.hidden = false;
    progress.value = 0;
    replace(out, message(`Sending ${file.name} (${bytes(file.size)})…`));
    xhr = new XMLHttpRequest();
    xhr.open('POST', query('/v1/imports', { name: file.name }));
    xhr.setRequestHeader('Authorization', `Bearer ${key()}`);
    xhr.setRequestHeader('Content-Type', isXML ? 'application/xml' : 'application/zip');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
    });
    xhr.addEventListener('load', () => {
      let body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // keep the status
      }
      const status = xhr.status;
      xhr = null;
      if (status !== 202 || !body.import_id) {
        const why = status === 403 ? 'this key may not upload (it needs the "ingest" scope)' : body.message || `the server answered ${status}`;
        replace(out, message(`The export was not accepted: ${why}.`, 'error'));
        return;
      }
      progress.value = 100;
      replace(out, message(`Received (${bytes(body.bytes || file.size)}); converting…`));
      poll(body.import_id, 2000);
    });
    xhr.addEventListener('error', () => replace(out, message('The upload failed: the connection broke. Try again.', 'error')));
    xhr.send(file);
  }

  // poll asks for the import's status, less often as time goes (each
  // request counts against the key's limit).
  async function poll(id, wait) {
    if (!ctx.alive()) return;
    try {
      const st = await request(`/v1/imports/${encodeURIComponent(id)}`);
      if (!ctx.alive()) return;
      const counts = `${num(st.records_read)} records read, ${num(st.rows_written)} rows written, ${num(st.rejected)} rejected`;
      if (st.state === 'failed') {
        replace(out, message(`The import failed: ${st.reason || 'no reason given'}`, 'error'));
        return;
      }
      if (st.state === 'done' && st.written) {
        replace(out, message(`Imported: ${counts}.`, 'ok'));
        return;
      }
      replace(out, message(`${st.state === 'done' ? 'Writing' : st.state[0].toUpperCase() + st.state.slice(1)}: ${counts}…`));
    } catch (err) {
      replace(out, message(err.message, 'error'));
      if (err.status !== 429 && err.status !== 503) return;
    }
    timer = setTimeout(() => poll(id, Math.min(wait * 1.5, 30000)), wait);
  }
  return { el: h('section', { 'aria-labelledby': 'import-title' }, h('h2', { id: 'import-title' }, 'Import the Health app’s export'), zone), stop };
}
