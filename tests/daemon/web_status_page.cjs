// Drives the status pages of two hapfd nodes in headless Chromium (see
// web_status_page.sh). Prints "CHECK name ok|FAIL" lines; exits 0 either way,
// the caller judges the lines.
'use strict';
const path = require('path');
const { chromium } = require(path.join(process.env.NODE_PATH, 'playwright-core'));

const [urlA, urlB, password, shots] = process.argv.slice(2);
const check = (name, ok, detail) => console.log(`CHECK ${name} ${ok ? 'ok' : 'FAIL'}${ok || !detail ? '' : ' (' + detail + ')'}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The state the page shows for vhid 7, or '' (the table refreshes every second).
async function carpState(page) {
  const cell = page.locator('#vhid-7 td.state');
  if ((await cell.count()) === 0) return '';
  return (await cell.first().textContent()).trim();
}

// The state A's page shows for its peer's vhid 7 (config-sync Status frames).
async function peerState(page) {
  const cell = page.locator('#peer-carp tr[data-vhid="7"] td.state');
  if ((await cell.count()) === 0) return '';
  return (await cell.first().textContent()).trim();
}

// Polls `read(page)` until it gives `want` or `ms` pass; the last value read.
async function waitFor(read, page, want, ms) {
  const end = Date.now() + ms;
  let got = '';
  while (Date.now() < end) {
    got = await read(page);
    if (got === want) return got;
    await sleep(200);
  }
  return got;
}
const waitState = (page, want, ms) => waitFor(carpState, page, want, ms);
const waitPeerState = (page, want, ms) => waitFor(peerState, page, want, ms);

// hapf_carp_state and hapf_carp_transitions_total of vhid 7 from /metrics (no login needed).
async function carpMetrics(url) {
  const text = await (await fetch(url + '/metrics')).text();
  const m = { state: '', to: {} };
  for (const line of text.split('\n')) {
    let r = line.match(/^hapf_carp_state\{[^}]*vhid="7"[^}]*state="(\w+)"[^}]*\} 1$/);
    if (r) m.state = r[1];
    r = line.match(/^hapf_carp_transitions_total\{[^}]*vhid="7"[^}]*to="(\w+)"[^}]*\} (\d+)$/);
    if (r) m.to[r[1]] = Number(r[2]);
  }
  return m;
}

async function login(browser, url, pw) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const response = await page.goto(url + '/');
  if (!response) throw new Error('no response from ' + url);
  await page.fill('#password', pw);
  const [answer] = await Promise.all([page.waitForNavigation(), page.click('#login')]);
  return { page, status: answer ? answer.status() : 0 };
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  try {
    // A wrong password: 401 and the login form again, no status page.
    const wrong = await login(browser, urlA, password + '-wrong');
    await wrong.page.screenshot({ path: path.join(shots, '1-wrong-password.png') });
    check('wrong password refused', wrong.status === 401 && (await wrong.page.locator('#password').count()) === 1 &&
          (await wrong.page.locator('#carp').count()) === 0, 'status ' + wrong.status);

    const a = (await login(browser, urlA, password)).page;
    const b = (await login(browser, urlB, password)).page;
    const stA = await waitState(a, 'MASTER', 15000);
    const stB = await waitState(b, 'BACKUP', 15000);
    await a.screenshot({ path: path.join(shots, '2-a-master.png'), fullPage: true });
    await b.screenshot({ path: path.join(shots, '3-b-backup.png'), fullPage: true });
    check('A page shows MASTER', stA === 'MASTER', stA);
    check('B page shows BACKUP', stB === 'BACKUP', stB);
    const peerB = await waitPeerState(a, 'BACKUP', 15000);
    await a.screenshot({ path: path.join(shots, '2b-a-sees-peer-backup.png'), fullPage: true });
    check("A page shows its peer's vhid 7 BACKUP", peerB === 'BACKUP', peerB);
    const syncRow = (await a.locator('#sync-peers tr[data-peer="192.0.2.2:8737"] td').allTextContents()).join('|');
    check('A page lists config-sync peer B connected with lag 0', syncRow.startsWith('192.0.2.2:8737|yes|0 (') &&
          syncRow.includes('|0|'), syncRow);

    const beforeA = await carpMetrics(urlA), beforeB = await carpMetrics(urlB);
    check('metrics before: A MASTER, B BACKUP', beforeA.state === 'MASTER' && beforeB.state === 'BACKUP',
          JSON.stringify([beforeA, beforeB]));

    // Maintenance on A with a click; the confirm dialog is accepted.
    let dialog = '';
    a.once('dialog', async (d) => { dialog = d.message(); await d.accept(); });
    await a.click('#maint-on');
    const nowB = await waitState(b, 'MASTER', 15000);
    const nowA = await waitState(a, 'BACKUP', 15000);
    await a.waitForFunction(() => document.getElementById('maintenance').textContent === 'on', null, { timeout: 5000 })
      .catch(() => {});
    await a.screenshot({ path: path.join(shots, '4-a-maintenance.png'), fullPage: true });
    await b.screenshot({ path: path.join(shots, '5-b-master.png'), fullPage: true });
    check('maintenance asked for confirmation', dialog.includes('maintenance'), dialog);
    check('B page shows MASTER after A enters maintenance', nowB === 'MASTER', nowB);
    check('A page shows BACKUP and maintenance on', nowA === 'BACKUP' &&
          (await a.textContent('#maintenance')) === 'on', nowA);
    const peerNow = await waitPeerState(a, 'MASTER', 15000);
    check("A page shows its peer MASTER after the click", peerNow === 'MASTER', peerNow);
    // The failover as Prometheus sees it: states swapped, one more transition each.
    const afterA = await carpMetrics(urlA), afterB = await carpMetrics(urlB);
    check('metrics after: states swapped, transition counters moved',
          afterA.state === 'BACKUP' && afterB.state === 'MASTER' &&
          (afterA.to.BACKUP || 0) === (beforeA.to.BACKUP || 0) + 1 &&
          (afterB.to.MASTER || 0) === (beforeB.to.MASTER || 0) + 1,
          JSON.stringify([beforeA, beforeB, afterA, afterB]));

    // Leaving maintenance: A preempts back (carp-preempt on).
    a.once('dialog', (d) => d.accept());
    await a.click('#maint-off');
    const backA = await waitState(a, 'MASTER', 15000);
    await a.screenshot({ path: path.join(shots, '6-a-master-again.png'), fullPage: true });
    check('A page shows MASTER after leaving maintenance', backA === 'MASTER', backA);
  } catch (e) {
    check('browser session', false, String(e));
  } finally {
    await browser.close();
  }
})();
