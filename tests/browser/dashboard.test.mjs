// dashboard.test.mjs - the vex dashboard in a real browser against the real
// server: starts `vex serve` (VEX_BIN) on a free loopback port with a
// temporary data dir, posts a small hand-made set of events, then drives
// Debian's chromium through playwright-core: sign-in (wrong password first),
// KPI tiles, chart, breakdown by CDN with sorting and filters, the period
// picker, the sessions list, an API error, token refresh and a reload.
//
// Run: VEX_BIN=build/vex node --test dashboard.test.mjs  (ctest does this).
// The screenshot goes to $VEX_SCREENSHOT, else to a temp file; its path is
// printed.
//
// Every expected value below was computed by hand from EVENTS (see the
// comments there), not by asking vex.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { VEX, eventually, freePort, sleep, vex } from './lib.mjs';

const CHROMIUM = process.env.VEX_CHROMIUM || '/usr/bin/chromium';
const CUSTOMER = 'acme';
const USER = 'olivia';
const PASSWORD = 'correct horse 42';
// A short access-token life makes the page refresh its token during the
// test (it renews a fifth of the life before expiry).
const ACCESS_TTL_S = 8;

// T: three hours ago, on a whole minute, so that every session is inside
// "last 24 hours", outside "last 1 hour", and long closed by timeout.
const T = (Math.floor(Date.now() / 60000) - 180) * 60000;

// Sessions (SPEC section 3), and what each one is:
//  s1 akamai/web, u1: starts at T, plays at +1 s (startup 1 s), ends at
//     +61 s: play 60 s at 3000 kbps. Q = 100 * 1 * 1 * (0.6 + 0.4 * 0.5) = 80.
//  s2 fastly/ios, u1: plays at +3 s (startup 3 s) at 6000 kbps, 30 s play,
//     10 s rebuffering, 30 s play, 2 s seek, 30 s play, then a fatal error:
//     VPF, play 90 s, cirr 10 s, vrt 2 s, Q = 0.
//  s3 akamai/web, u2: start, end after 5 s without playing: EBVS.
//  s4 fastly/android, u3: start, fatal error after 4 s: VSF, Q = 0.
//  s5 cloudfront/web, no subscriber: start, buffering after 1 s, then
//     nothing: closed by the 120 s timeout without playing: EBVS.
const EVENTS = [
    { sid: 's1', seq: 0, ts: T, type: 'start', kbps: 3000, cdn: 'akamai', platform: 'web',
      subscriberid: 'u1', title: 'Movie A' },
    { sid: 's1', seq: 1, ts: T + 1000, type: 'playing' },
    { sid: 's1', seq: 2, ts: T + 61000, type: 'end' },
    { sid: 's2', seq: 0, ts: T + 600000, type: 'start', cdn: 'fastly', platform: 'ios',
      subscriberid: 'u1', title: 'Movie B' },
    { sid: 's2', seq: 1, ts: T + 603000, type: 'playing', kbps: 6000 },
    { sid: 's2', seq: 2, ts: T + 633000, type: 'buffering' },
    { sid: 's2', seq: 3, ts: T + 643000, type: 'playing' },
    { sid: 's2', seq: 4, ts: T + 673000, type: 'seek' },
    { sid: 's2', seq: 5, ts: T + 675000, type: 'playing' },
    { sid: 's2', seq: 6, ts: T + 705000, type: 'error', fatal: true, code: 'NET_DOWN' },
    { sid: 's3', seq: 0, ts: T + 1200000, type: 'start', cdn: 'akamai', platform: 'web',
      subscriberid: 'u2', title: 'Movie A' },
    { sid: 's3', seq: 1, ts: T + 1205000, type: 'end' },
    { sid: 's4', seq: 0, ts: T + 1800000, type: 'start', cdn: 'fastly', platform: 'android',
      subscriberid: 'u3', title: 'Movie C' },
    { sid: 's4', seq: 1, ts: T + 1804000, type: 'error', fatal: true, code: 'DRM' },
    { sid: 's5', seq: 0, ts: T + 2400000, type: 'start', cdn: 'cloudfront', platform: 'web',
      title: 'Movie B' },
    { sid: 's5', seq: 1, ts: T + 2401000, type: 'buffering' },
];

// Totals: attempts 5, plays 2 (s1, s2), ended plays 2, EBVS 2/5 = 40 %,
// VSF 1/5 = 20 %, VPF 1/2 = 50 %; play 150 s, cirr 10 s, vrt 2 s: buffering
// 12/162 = 7.41 %, CIRR 10/162 = 6.17 %, VRT 2/162 = 1.23 %; startup mean
// (1 + 3) / 2 = 2 s, median (rank 1 of [1, 3]) 1 s; QoE over s1, s2, s4:
// 80 / 3 = 26.7; bitrate (3000 * 60 + 6000 * 90) / 150 = 4800 kbps; unique
// viewers u1, u2, u3 = 3; concurrency 176 s of sessions over 24 h = 0.00.
const TILES_ALL = {
    'Plays': '2', 'Attempts': '5', 'Concurrent plays': '0.00', 'Ended plays': '2',
    'EBVS': '40.00 %', 'VSF': '20.00 %', 'VPF': '50.00 %', 'Buffering ratio': '7.41 %',
    'CIRR': '6.17 %', 'VRT': '1.23 %', 'Startup time': '2.00 s', 'QoE': '26.7',
    'Average bitrate': '4,800 kbps', 'Unique viewers': '3',
};
// Only fastly (s2, s4): 2 attempts, 1 play, no EBVS, VSF 1/2, VPF 1/1,
// buffering 12/102 = 11.76 %, QoE (0 + 0) / 2 = 0.
const TILES_FASTLY = {
    'Plays': '1', 'Attempts': '2', 'EBVS': '0.00 %', 'VSF': '50.00 %', 'VPF': '100.00 %',
    'Buffering ratio': '11.76 %', 'Startup time': '3.00 s', 'QoE': '0.0',
    'Average bitrate': '6,000 kbps', 'Unique viewers': '2',
};
// Without akamai (s2, s4, s5): 3 attempts, 1 play, EBVS 1/3, VSF 1/3.
const TILES_NOT_AKAMAI = {
    'Plays': '1', 'Attempts': '3', 'EBVS': '33.33 %', 'VSF': '33.33 %', 'VPF': '100.00 %',
};
// s1 and s2 alone: both played, s2 failed while playing (VPF 1/2); QoE
// (80 + 0) / 2 = 40.
const TILES_S1_S2 = {
    'Plays': '2', 'Attempts': '2', 'EBVS': '0.00 %', 'VSF': '0.00 %', 'VPF': '50.00 %',
    'Buffering ratio': '7.41 %', 'QoE': '40.0',
};
// Nothing happened in the last hour.
const TILES_EMPTY = { 'Plays': '0', 'Attempts': '0', 'EBVS': '0.00 %', 'QoE': '0.0' };

// Breakdown by CDN: cdn, plays, attempts, EBVS %, VSF %, VPF %, buffering %,
// startup (s), QoE, bitrate (kbps), watch time.
const ROW = {
    akamai: ['akamai', '1', '2', '50.00', '0.00', '0.00', '0.00', '1.00', '80.0', '3,000',
             '1 min 00 s'],
    fastly: ['fastly', '1', '2', '0.00', '50.00', '100.00', '11.76', '3.00', '0.0', '6,000',
             '1 min 30 s'],
    cloudfront: ['cloudfront', '0', '1', '100.00', '0.00', '0.00', '0.00', '0.00', '0.0', '0',
                 '0 s'],
};

const utc = (ms) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

/* ---------- helpers ---------- */

async function readTiles(page, labels) {
    const out = {};
    for (const label of labels) {
        out[label] = (await page.getByRole('group', { name: label, exact: true })
            .locator('.tile-value').textContent({ timeout: 2000 })).trim();
    }
    return out;
}

function tilesAre(page, expected, what) {
    return eventually(() => readTiles(page, Object.keys(expected)), expected, what);
}

// tableRows reads a table's body as text: the filter button's text for a
// dimension cell (not its exclude button), the cell's text otherwise.
function tableRows(page, name) {
    return page.getByRole('table', { name, exact: true }).locator('tbody tr').evaluateAll(
        (trs) => trs.map((tr) => Array.from(tr.cells).map((td) => {
            const b = td.querySelector('button.link');
            return (b ? b.textContent : td.textContent).trim();
        })));
}

/* ---------- the test ---------- */

test('vex dashboard in chromium against the real server', { timeout: 240000 }, async (t) => {
    assert.ok(fs.existsSync(VEX), `VEX_BIN ${VEX} does not exist`);
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vex-browser-'));
    const data = path.join(tmp, 'data');
    fs.mkdirSync(data);
    let server = null;
    let context = null;
    t.after(async () => {
        if (context) await context.close().catch(() => {});
        if (server && server.exitCode === null && server.signalCode === null) {
            const exited = new Promise((r) => server.once('exit', r));
            server.kill('SIGTERM');
            await Promise.race([exited, sleep(20000)]);
            if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
        }
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    const key = vex(['customer', 'add', CUSTOMER, '--plan', '1'], data).trim();
    assert.match(key, /^\S+$/, 'vex customer add prints the ingest key');
    vex(['user', 'add', USER, '--password-stdin', '--customers', CUSTOMER], data, `${PASSWORD}\n`);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const log = fs.openSync(path.join(tmp, 'serve.log'), 'a');
    server = spawn(VEX, ['serve', '--data', data, '--listen', `127.0.0.1:${port}`,
                         '--access-ttl', String(ACCESS_TTL_S)],
                   { stdio: ['ignore', log, log] });
    let up = false;
    for (let i = 0; i < 600 && !up; i++) {
        assert.equal(server.exitCode, null, 'vex serve exited early: ' +
                     fs.readFileSync(path.join(tmp, 'serve.log'), 'utf8'));
        try { up = (await fetch(`${base}/healthz`)).status === 200; } catch (e) { up = false; }
        if (!up) await sleep(50);
    }
    assert.ok(up, 'vex serve answers /healthz');

    const ingest = await fetch(`${base}/v1/events`, {
        method: 'POST',
        headers: { 'X-Vex-Key': key, 'Content-Type': 'application/x-ndjson' },
        body: EVENTS.map((e) => JSON.stringify(e)).join('\n') + '\n',
    });
    assert.equal(ingest.status, 202);
    assert.deepEqual(await ingest.json(), { accepted: EVENTS.length });

    const profile = path.join(tmp, 'chromium-profile');
    context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: { width: 1440, height: 900 },
        timezoneId: 'UTC',
        locale: 'en-US',
    });
    const page = context.pages()[0] || await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const foreign = [];
    const apiUrls = [];
    const refreshes = [];
    page.on('request', (r) => {
        const u = r.url();
        if (!u.startsWith(base) && !u.startsWith('data:')) foreign.push(u);
        if (u.includes('/mm-apis/')) apiUrls.push(decodeURIComponent(u));
        if (r.method() === 'POST' && (r.postData() || '').includes('grant_type=refresh_token')) {
            refreshes.push(r);
        }
    });

    await t.test('the page and its files are served by vex', async () => {
        const resp = await page.goto(`${base}/`);
        assert.equal(resp.status(), 200);
        assert.match(resp.headers()['content-type'], /^text\/html/);
        const js = await fetch(`${base}/dashboard/app.js`);
        assert.equal(js.status, 200);
        assert.match(js.headers.get('content-type'), /^text\/javascript/);
        const css = await fetch(`${base}/dashboard/style.css`);
        assert.match(css.headers.get('content-type'), /^text\/css/);
        const missing = await fetch(`${base}/dashboard/missing.js`);
        assert.equal(missing.status, 404);
        assert.equal((await missing.json()).error, 'not_found');
        await page.getByRole('heading', { name: 'Sign in to vex' }).waitFor();
    });

    await t.test('a wrong password shows the server\'s error', async () => {
        await page.getByLabel('Username').fill(USER);
        await page.getByLabel('Password').fill('not the password');
        await page.getByRole('button', { name: 'Sign in' }).click();
        const alert = page.locator('#signin-view').getByRole('alert');
        await eventually(async () => (await alert.isVisible()) && (await alert.textContent()),
                         'Invalid user credentials', 'sign-in error');
        assert.equal(await page.locator('#app-view').isVisible(), false);
    });

    await t.test('sign-in shows the KPI tiles of the hand-made data', async () => {
        await page.getByLabel('Password').fill(PASSWORD);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('region', { name: 'Key indicators' }).waitFor();
        assert.equal(await page.getByLabel('Customer', { exact: true }).inputValue(), CUSTOMER);
        await tilesAre(page, TILES_ALL, 'tiles, last 24 hours');
        const sub = await page.getByRole('group', { name: 'Startup time', exact: true })
            .locator('.tile-sub').textContent();
        assert.equal(sub, 'median 1.00 s');
        // The tiles' query carries the plan level read from /planLevelByCustId.
        assert.ok(apiUrls.some((u) => u.includes(`/mm-apis/session/${CUSTOMER}?planlevel=1&`)),
                  'tile query with planlevel=1');
    });

    await t.test('the chart draws plays and attempts per hour', async () => {
        const chart = page.getByRole('img', { name: /^Plays and attempts per hour/ });
        await eventually(async () => /, \d+ points: Attempts 5, Plays 2$/.test(
            await chart.getAttribute('aria-label')), true, 'chart summary');
        assert.equal(await page.locator('#chart .series').count(), 2);
        assert.ok(apiUrls.some((u) => u.includes('aggby=timestamp')), 'chart uses aggby=timestamp');
        await page.getByLabel('Chart metric').selectOption('qualityofexperience');
        await page.getByRole('img', { name: /^QoE score per hour/ }).waitFor();
        await page.getByLabel('Chart metric').selectOption('plays');
        await chart.waitFor();
    });

    await t.test('the breakdown by CDN and its sorting', async () => {
        const table = 'Breakdown by CDN';
        // Default: attempts descending, ties by name.
        await eventually(() => tableRows(page, table), [ROW.akamai, ROW.fastly, ROW.cloudfront],
                         'breakdown, attempts descending');
        const tbl = page.getByRole('table', { name: table });
        await tbl.getByRole('button', { name: 'Attempts', exact: true }).click();
        await eventually(() => tableRows(page, table), [ROW.cloudfront, ROW.akamai, ROW.fastly],
                         'breakdown, attempts ascending');
        assert.ok(apiUrls.some((u) => /orderby=attempts&orderas=ASC/.test(u)), 'orderas=ASC sent');
        assert.equal(await tbl.getByRole('columnheader', { name: 'Attempts' })
            .getAttribute('aria-sort'), 'ascending');
        await tbl.getByRole('button', { name: 'CDN', exact: true }).click();
        await eventually(() => tableRows(page, table), [ROW.akamai, ROW.cloudfront, ROW.fastly],
                         'breakdown, CDN ascending');
        await tbl.getByRole('button', { name: 'CDN', exact: true }).click();
        await eventually(() => tableRows(page, table), [ROW.fastly, ROW.cloudfront, ROW.akamai],
                         'breakdown, CDN descending');
        await tbl.getByRole('button', { name: 'Buffering %', exact: true }).click();
        await eventually(() => tableRows(page, table), [ROW.fastly, ROW.akamai, ROW.cloudfront],
                         'breakdown, buffering descending');
        assert.ok(apiUrls.some((u) => /orderby=bufferingratio&orderas=DESC/.test(u)));
    });

    await t.test('clicking a value filters, the chip removes the filter', async () => {
        await page.getByRole('button', { name: 'Filter: CDN = fastly' }).click();
        const filters = page.getByRole('region', { name: 'Filters' });
        await filters.getByText('CDN = fastly').waitFor();
        await tilesAre(page, TILES_FASTLY, 'tiles, cdn=fastly');
        await eventually(() => tableRows(page, 'Breakdown by CDN'), [ROW.fastly],
                         'breakdown, fastly');
        assert.ok(apiUrls.some((u) => u.includes('filter=cdn=fastly')), 'filter=cdn=fastly sent');
        await filters.getByRole('button', { name: 'Remove filter CDN = fastly' }).click();
        await tilesAre(page, TILES_ALL, 'tiles, filter removed');
        await page.getByRole('button', { name: 'Exclude: CDN = akamai' }).click();
        await filters.getByText('CDN ≠ akamai').waitFor();
        await tilesAre(page, TILES_NOT_AKAMAI, 'tiles, cdn!=akamai');
        await filters.getByRole('button', { name: 'Clear all' }).click();
        await tilesAre(page, TILES_ALL, 'tiles, filters cleared');
    });

    await t.test('the period picker', async () => {
        await page.getByLabel('Period', { exact: true }).selectOption({ label: 'Last 1 hour' });
        await tilesAre(page, TILES_EMPTY, 'tiles, last hour');
        await eventually(() => tableRows(page, 'Breakdown by CDN'),
                         [['No sessions in this period.']], 'empty breakdown');
        // A custom period (the browser runs in UTC) holding s1 and s2 only.
        await page.getByLabel('Period', { exact: true }).selectOption({ label: 'Custom…' });
        const local = (ms) => utc(ms).slice(0, 16).replace(' ', 'T');
        await page.getByLabel('Start', { exact: true }).fill(local(T - 60000));
        await page.getByLabel('End', { exact: true }).fill(local(T + 900000));
        await page.getByRole('button', { name: 'Apply' }).click();
        await tilesAre(page, TILES_S1_S2, 'tiles, custom period');
        const p = apiUrls[apiUrls.length - 1];
        assert.ok(p.includes(`period=start=${T / 1000 - 60},end=${T / 1000 + 900}`), p);
        await page.getByLabel('Period', { exact: true }).selectOption({ label: 'Last 24 hours' });
        await tilesAre(page, TILES_ALL, 'tiles, back to 24 hours');
    });

    await t.test('the sessions view lists the sessions, newest first', async () => {
        await page.getByRole('tab', { name: 'Sessions' }).click();
        const rows = () => tableRows(page, 'Sessions');
        await eventually(async () => (await rows()).map((r) => r[0]),
                         ['s5', 's4', 's3', 's2', 's1'], 'session ids by start time, descending');
        const r = await rows();
        // Session, started, last event, watch time, asset, status, QoE, CDN, platform.
        assert.deepEqual(r[3], ['s2', utc(T + 600000), utc(T + 705000), '1 min 30 s', 'Movie B',
                                'Ended', '0.0', 'fastly', 'ios']);
        assert.deepEqual(r[4], ['s1', utc(T), utc(T + 61000), '1 min 00 s', 'Movie A', 'Ended',
                                '80.0', 'akamai', 'web']);
        assert.ok(apiUrls.some((u) => u.includes(`/mm-apis/listsessions/${CUSTOMER}?`) &&
                                      u.includes('orderby=starttime&order=DESC&limit=50')));
        assert.match(await page.locator('#sessions-pager').textContent(), /Rows 1–5 of 5/);
        await page.getByRole('tab', { name: 'Overview' }).click();
        await tilesAre(page, TILES_ALL, 'tiles, back on the overview');
    });

    await t.test('an error of the API is shown to the user', async () => {
        // The real server answers 403 to a plan level that is not the
        // customer's: send one and check the page shows its message.
        await page.route('**/mm-apis/session/**', (route) => route.continue({
            url: route.request().url().replace('planlevel=1', 'planlevel=7'),
        }));
        await page.getByRole('button', { name: 'Refresh now' }).click();
        const errors = page.locator('#errors');
        await eventually(async () => (await errors.isVisible()) &&
            /Key indicators: .*plan level.*\(HTTP 403/.test(await errors.textContent()), true,
            'error banner with the server message');
        await page.unroute('**/mm-apis/session/**');
        await page.getByRole('button', { name: 'Refresh now' }).click();
        await eventually(() => errors.isVisible(), false, 'error banner gone after a good answer');
        await tilesAre(page, TILES_ALL, 'tiles after the error');
    });

    await t.test('the access token is refreshed before it expires', async () => {
        await eventually(() => refreshes.length > 0, true, 'a refresh_token grant', 60000);
        const resp = await refreshes[0].response();
        assert.equal(resp.status(), 200);
        // Past the first token's life the page still reads data.
        await sleep(ACCESS_TTL_S * 1000);
        await page.getByRole('button', { name: 'Refresh now' }).click();
        await tilesAre(page, TILES_ALL, 'tiles with a refreshed token');
        assert.equal(await page.locator('#signin-view').isVisible(), false);
    });

    await t.test('a reload keeps the session and the screenshot looks right', async () => {
        await page.reload();
        await tilesAre(page, TILES_ALL, 'tiles after a reload');
        await eventually(() => tableRows(page, 'Breakdown by CDN'),
                         [ROW.akamai, ROW.fastly, ROW.cloudfront], 'breakdown after a reload');
        await page.getByRole('img', { name: /^Plays and attempts per hour/ }).waitFor();
        const shot = process.env.VEX_SCREENSHOT ||
            path.join(os.tmpdir(), `vex-dashboard-${process.pid}.png`);
        await page.screenshot({ path: shot, fullPage: true });
        assert.ok(fs.statSync(shot).size > 10000, 'a screenshot of some size');
        console.log(`screenshot: ${shot}`);
    });

    await t.test('sign out returns to the sign-in form', async () => {
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.getByRole('heading', { name: 'Sign in to vex' }).waitFor();
        assert.equal(await page.locator('#app-view').isVisible(), false);
    });

    assert.deepEqual(foreign, [], 'the page requests nothing outside the server');
    assert.deepEqual(pageErrors, [], 'no script errors');

    await t.test('the server stops cleanly', async () => {
        await context.close();
        context = null;
        // Under the sanitizers a leak or an error shows as a non-zero exit.
        const exited = new Promise((r) => server.once('exit', (code, sig) => r({ code, sig })));
        server.kill('SIGTERM');
        const { code, sig } = await exited;
        assert.deepEqual({ code, sig }, { code: 0, sig: null },
                         fs.readFileSync(path.join(tmp, 'serve.log'), 'utf8').slice(-4000));
    });
});
