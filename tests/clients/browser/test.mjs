// Ten browser checks against a running mthttpd (started by run.sh): five
// over HTTP, five over HTTPS (one of them: HTTP/2 for the page and assets).  Prints one "PASS name" or "FAIL name: reason"
// line per check; exit 0 only if all passed.  Environment: BASE_URL,
// TLS_BASE_URL, UPLOADS_DIR, RESOURCES, CHROMIUM, DOWNLOAD_DIR (a scratch
// directory), CHROMIUM_HOME (a $HOME whose NSS database trusts the test CA).
import { chromium } from 'playwright-core';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const BASE = process.env.BASE_URL;
const TLS_BASE = process.env.TLS_BASE_URL;
const CHROMIUM_HOME = process.env.CHROMIUM_HOME;
const UPLOADS = process.env.UPLOADS_DIR;
const RESOURCES = process.env.RESOURCES;
const SCRATCH = process.env.DOWNLOAD_DIR;
const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
const T = 10000; // every wait is bounded by this

// the whole run is bounded too (run.sh also wraps us in timeout 120)
setTimeout(() => { console.log('FAIL run: test.mjs over 110 s'); process.exit(1); }, 110000).unref();

let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`PASS ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${String(e && e.message || e).split('\n')[0]}`);
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

// HOME: Chromium reads the user's trusted CAs from $HOME/.pki/nssdb
const launch = (home) => chromium.launch({
  executablePath: EXE,
  headless: true,
  timeout: T,
  env: { ...process.env, HOME: home },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-dev-shm-usage'],
});
const browser = await launch(CHROMIUM_HOME);

// the page is styled and every <img> loaded
const rendered = (page) => page.evaluate(() => document.styleSheets.length > 0 &&
  document.images.length > 0 && [...document.images].every(i => i.complete && i.naturalWidth > 0));

// click the /logo.png download link on BASE_URL/ and compare with the file
async function downloadLogo(page, base, saveName) {
  await page.goto(base + '/');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('#downloads a[href="/logo.png"]'),
  ]);
  assert(download.suggestedFilename() === 'logo.png',
    `suggestedFilename ${JSON.stringify(download.suggestedFilename())}`);
  const err = await download.failure();
  assert(err === null, `download failed: ${err}`);
  const saved = join(SCRATCH, saveName);
  await download.saveAs(saved);
  const got = readFileSync(saved), want = readFileSync(join(RESOURCES, 'logo.png'));
  assert(got.equals(want), `saved ${got.length} bytes differ from resources/logo.png (${want.length})`);
}
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1024, height: 768 } });
  context.setDefaultTimeout(T);
  context.setDefaultNavigationTimeout(T);
  const page = await context.newPage();

  await check('index.html loads and renders', async () => {
    const resp = await page.goto(BASE + '/', { waitUntil: 'load' });
    assert(resp && resp.status() === 200, `GET / -> ${resp && resp.status()}`);
    const title = await page.title();
    assert(title.includes('mthttpd'), `title ${JSON.stringify(title)}`);
    const shot = await page.screenshot({ fullPage: false });
    assert(shot.length > 5000, `screenshot only ${shot.length} bytes`);
    // the stylesheet and the logo image did load
    const styled = await page.evaluate(() => document.styleSheets.length > 0 &&
      [...document.images].every(i => i.complete && i.naturalWidth > 0));
    assert(styled, 'style.css or an <img> did not load');
    // compare with a blank page and count the colours of the screenshot
    const blank = await context.newPage();
    try {
      await blank.goto('about:blank');
      const blankShot = await blank.screenshot();
      assert(!shot.equals(blankShot), 'screenshot identical to about:blank');
      const colours = await blank.evaluate(async (b64) => {
        const img = new Image();
        img.src = 'data:image/png;base64,' + b64;
        await img.decode();
        const c = document.createElement('canvas');
        c.width = img.width; c.height = img.height;
        const g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
        return seen.size;
      }, shot.toString('base64'));
      assert(colours >= 16, `screenshot has only ${colours} distinct colours`);
    } finally {
      await blank.close();
    }
  });

  await check('about.html and contact.html via the nav links', async () => {
    await page.goto(BASE + '/');
    for (const name of ['about', 'contact']) {
      const [resp] = await Promise.all([
        page.waitForResponse(r => new URL(r.url()).pathname === `/${name}.html`),
        page.click(`header nav a[href="/${name}.html"]`),
      ]);
      assert(resp.status() === 200, `/${name}.html -> ${resp.status()}`);
      await page.waitForURL(`${BASE}/${name}.html`, { waitUntil: 'load' });
      const title = await page.title();
      assert(title.length > 0, `/${name}.html has no title`);
      const h1 = await page.locator('h1').first().textContent();
      assert(h1 && h1.trim().length > 0, `/${name}.html has no <h1>`);
    }
  });

  await check('logo.png link downloads the exact file', () =>
    downloadLogo(page, BASE, 'downloaded-logo.png'));

  await check('Upload JSON form: 201 and the stored file', async () => {
    await page.goto(BASE + '/');
    const before = new Set(readdirSync(UPLOADS));
    const body = JSON.stringify({ test: 'browser', when: new Date().toISOString(), n: [1, 2, 3], ok: true });
    await page.fill('#json', body);
    await page.click('#upload');
    await page.waitForFunction(() => document.getElementById('result').textContent.includes('201'),
      null, { timeout: T });
    const fresh = readdirSync(UPLOADS).filter(f => !before.has(f));
    assert(fresh.length === 1, `${fresh.length} new files in uploads_dir: ${fresh.join(', ')}`);
    const stored = readFileSync(join(UPLOADS, fresh[0]), 'utf8');
    assert(stored === body, `stored ${JSON.stringify(stored)} != sent ${JSON.stringify(body)}`);
    const result = await page.textContent('#result');
    assert(result.includes(fresh[0]), `#result does not name ${fresh[0]}`);
  });

  await check('fetch POST text/plain gets 415', async () => {
    await page.goto(BASE + '/');
    const before = readdirSync(UPLOADS).length;
    const status = await page.evaluate(async () => {
      const ctl = new AbortController();
      const t = setTimeout(() => ctl.abort(), 10000);
      try {
        const r = await fetch('/upload', { method: 'POST', headers: { 'Content-Type': 'text/plain' },
                                           body: '{"a": 1}', signal: ctl.signal });
        return r.status;
      } finally { clearTimeout(t); }
    });
    assert(status === 415, `status ${status}`);
    assert(readdirSync(UPLOADS).length === before, 'a file was stored anyway');
  });

  // ---- HTTPS: the same site over TLS, the certificate verified against
  // the test CA in the NSS database (no certificate error is ignored)
  const tpage = await context.newPage();
  await check('HTTPS: index.html renders, certificate from the test CA', async () => {
    const resp = await tpage.goto(TLS_BASE + '/', { waitUntil: 'load' });
    assert(resp && resp.status() === 200, `GET / -> ${resp && resp.status()}`);
    const title = await tpage.title();
    assert(title.includes('mthttpd'), `title ${JSON.stringify(title)}`);
    assert(await rendered(tpage), 'style.css or an <img> did not load over HTTPS');
    const sec = await resp.securityDetails();
    assert(sec && /mthttpd browser test CA/.test(sec.issuer || ''), `issuer ${sec && sec.issuer}`);
    assert(sec.protocol === 'TLS 1.3', `protocol ${sec.protocol}`);
    assert(sec.subjectName === 'localhost', `subject ${sec.subjectName}`);
  });

  // HTTP/2: the page and every asset came over h2 (ALPN), as the Resource
  // Timing API reports it; over cleartext the same page is http/1.1
  await check('HTTPS: the page and its assets report nextHopProtocol h2', async () => {
    const p = await context.newPage();
    try {
      await p.goto(TLS_BASE + '/?h2', { waitUntil: 'load' });
      assert(await rendered(p), 'style.css or an <img> did not load over HTTPS');
      const entries = await p.evaluate(() => performance.getEntries()
        .filter(e => e.entryType === 'navigation' || e.entryType === 'resource')
        .map(e => ({ name: e.name, type: e.entryType, proto: e.nextHopProtocol })));
      const nav = entries.filter(e => e.type === 'navigation');
      const assets = entries.filter(e => e.type === 'resource' && e.name.startsWith(TLS_BASE));
      assert(nav.length === 1, `${nav.length} navigation entries`);
      assert(assets.length >= 2, `only ${assets.length} same-origin assets: ${JSON.stringify(entries)}`);
      const bad = [...nav, ...assets].filter(e => e.proto !== 'h2');
      assert(bad.length === 0, `not h2: ${bad.map(e => `${e.name} ${JSON.stringify(e.proto)}`).join(', ')}`);
      await p.goto(BASE + '/?h1', { waitUntil: 'load' });
      const plain = await p.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
      assert(plain === 'http/1.1', `cleartext navigation ${JSON.stringify(plain)}`);
    } finally {
      await p.close();
    }
  });

  await check('HTTPS: logo.png link downloads the exact file', () =>
    downloadLogo(tpage, TLS_BASE, 'downloaded-logo-tls.png'));

  await check('HTTPS: fetch POST /upload gets 201 and the stored file', async () => {
    await tpage.goto(TLS_BASE + '/');
    const before = new Set(readdirSync(UPLOADS));
    const body = JSON.stringify({ test: 'browser-https', when: new Date().toISOString(),
                                  blob: 'x\u00e9\u4e2d'.repeat(3000) });
    const r = await tpage.evaluate(async (b) => {
      const ctl = new AbortController();
      const t = setTimeout(() => ctl.abort(), 10000);
      try {
        const res = await fetch('/upload', { method: 'POST', signal: ctl.signal,
          headers: { 'Content-Type': 'application/json' }, body: b });
        return { status: res.status, text: await res.text() };
      } finally { clearTimeout(t); }
    }, body);
    assert(r.status === 201, `status ${r.status}: ${r.text.slice(0, 200)}`);
    const fresh = readdirSync(UPLOADS).filter(f => !before.has(f));
    assert(fresh.length === 1, `${fresh.length} new files in uploads_dir: ${fresh.join(', ')}`);
    const stored = readFileSync(join(UPLOADS, fresh[0]));
    assert(stored.equals(Buffer.from(body, 'utf8')), `stored ${stored.length} bytes != sent`);
    assert(r.text.includes(fresh[0]), `response does not name ${fresh[0]}`);
  });

  await check('HTTPS: without the test CA Chromium refuses the certificate', async () => {
    const bare = await launch(SCRATCH);    // a $HOME without the NSS database
    try {
      const p = await bare.newPage();
      let err = null;
      try { await p.goto(TLS_BASE + '/', { timeout: T }); } catch (e) { err = String(e.message || e); }
      assert(err && /ERR_CERT_AUTHORITY_INVALID/.test(err), `navigation: ${err || 'succeeded'}`);
    } finally {
      await bare.close().catch(() => {});
    }
  });
} finally {
  await browser.close().catch(() => {});
}
process.exit(failed ? 1 : 0);
