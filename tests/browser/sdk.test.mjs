// sdk.test.mjs - the web player SDK (sdk/js/vex-sdk.js) in a real browser
// against the real server: starts `vex serve` (VEX_BIN) on a free loopback
// port with a temporary data dir, serves test pages that load the SDK (as an
// ES module and as a classic script) under the server's origin through
// playwright's routing, drives trackers with scripted media events on a fake
// element, with the manual API and with real <video> elements, and checks
// the sessions the server made of the SDK's events through the metrics API.
// Network failures, 5xx and 400 answers are injected with page.route.
//
// Run: VEX_BIN=build/vex node --test sdk.test.mjs  (ctest does this).
//
// Every expected value below was worked out by hand from the scripted
// events and SPEC sections 2 and 3, not by asking vex or the SDK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { VEX, eventually, freePort, sleep, vex } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SDK_DIR = process.env.VEX_SDK_DIR || path.join(HERE, '..', '..', 'sdk', 'js');
const CHROMIUM = process.env.VEX_CHROMIUM || '/usr/bin/chromium';
const CUSTOMER = 'sdkco';
const USER = 'sam';
const PASSWORD = 'sdk pass 7';

// The dimensions of the main session; subscribertag is left out at start
// and set later with setDims (it then comes from a later event).
const DIMS_MAIN = {
    cdn: 'akamai', platform: 'web', player: 'fake-player', os: 'Linux', browser: 'Chromium',
    device: 'desktop', country: 'FR', asset: 'asset-1', title: 'Big Buck Bunny', isp: 'isp-1',
    subscriberid: 'user-1',
};

// The pages are served by the test (routed), under the server's origin so
// that the SDK posts same-origin.
const PAGES = {
    '/sdk/module.html': `<!doctype html><meta charset="utf-8"><title>sdk module</title>
<script type="module">
import VexSDK, { track } from './vex-sdk.mjs';
window.imported = { VexSDK, track };
window.sdkReady = true;
</script>`,
    '/sdk/classic.html': `<!doctype html><meta charset="utf-8"><title>sdk classic</title>
<script src="vex-sdk.js"></script>
<script>
// makeWebm records ms of an animated canvas into a WebM blob: a real video
// made without network access.
async function makeWebm(ms) {
    const c = document.createElement('canvas');
    c.width = 64; c.height = 48;
    const ctx = c.getContext('2d');
    const rec = new MediaRecorder(c.captureStream(25), { mimeType: 'video/webm;codecs=vp8' });
    const chunks = [];
    rec.ondataavailable = (e) => chunks.push(e.data);
    let i = 0;
    const draw = () => {
        ctx.fillStyle = 'hsl(' + (i++ * 25) + ',80%,50%)';
        ctx.fillRect(0, 0, 64, 48);
    };
    draw();
    const iv = setInterval(draw, 40);
    rec.start();
    await new Promise((r) => setTimeout(r, ms));
    await new Promise((r) => { rec.onstop = r; rec.stop(); });
    clearInterval(iv);
    return new Blob(chunks, { type: 'video/webm' });
}
window.sdkReady = !!window.VexSDK;
</script>`,
    '/sdk/blank.html': '<!doctype html><meta charset="utf-8"><title>blank</title><p>bye</p>',
};

function serveSdkFile(pathname) {
    if (PAGES[pathname]) return { status: 200, contentType: 'text/html', body: PAGES[pathname] };
    const name = pathname.slice('/sdk/'.length);
    if (name === 'vex-sdk.js' || name === 'vex-sdk.mjs') {
        return { status: 200, contentType: 'text/javascript',
                 body: fs.readFileSync(path.join(SDK_DIR, name), 'utf8') };
    }
    return { status: 404, contentType: 'text/plain', body: 'not found' };
}

test('vex web SDK in chromium against the real server', { timeout: 240000 }, async (t) => {
    assert.ok(fs.existsSync(VEX), `VEX_BIN ${VEX} does not exist`);
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vex-sdk-'));
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

    // A key with characters that need escaping in ?key= (the beacon's URL).
    const KEY = 'sdk-key/+&=1';
    const key = vex(['customer', 'add', CUSTOMER, '--plan', '2', '--key', KEY], data).trim();
    assert.equal(key, KEY, 'vex customer add prints the ingest key given');
    vex(['user', 'add', USER, '--password-stdin', '--customers', CUSTOMER], data, `${PASSWORD}\n`);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const endpoint = `${base}/v1/events`;
    const log = fs.openSync(path.join(tmp, 'serve.log'), 'a');
    server = spawn(VEX, ['serve', '--data', data, '--listen', `127.0.0.1:${port}`],
                   { stdio: ['ignore', log, log] });
    let up = false;
    for (let i = 0; i < 600 && !up; i++) {
        assert.equal(server.exitCode, null, 'vex serve exited early: ' +
                     fs.readFileSync(path.join(tmp, 'serve.log'), 'utf8'));
        try { up = (await fetch(`${base}/healthz`)).status === 200; } catch (e) { up = false; }
        if (!up) await sleep(50);
    }
    assert.ok(up, 'vex serve answers /healthz');

    const tokResp = await fetch(`${base}/realms/vex/protocol/openid-connect/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'password', username: USER, password: PASSWORD,
                                    client_id: 'smartsight-backend', scope: 'openid' }),
    });
    assert.equal(tokResp.status, 200);
    const token = (await tokResp.json()).access_token;

    // Every session of this test starts after S and well before E.
    const S = Math.floor(Date.now() / 1000) - 600;
    const E = S + 7200;
    const FIELDS = ['attempts', 'viewercount', 'buffcount', 'errors', 'ebvs',
                    'totalstartupfailure', 'endedplays', 'status', 'streamtype',
                    'cdn', 'platform', 'player', 'os', 'browser', 'device', 'country', 'asset',
                    'title', 'isp', 'subscriberid', 'subscribertag'];
    // sessions returns the per-session rows of the metrics API by sid.
    async function sessions() {
        const q = `planlevel=2&period=start=${S},end=${E}&aggby=sessionid&metrics=` +
            FIELDS.join(',');
        const r = await fetch(`${base}/mm-apis/session/${CUSTOMER}?${q}`,
                              { headers: { Authorization: `Bearer ${token}` } });
        const body = await r.json();
        assert.equal(r.status, 200, JSON.stringify(body));
        const out = {};
        for (const row of body.response) out[row.sessionid] = row;
        return out;
    }
    async function session(sid, fields) {
        const row = (await sessions())[sid];
        if (!row) return `no session ${sid}`;
        const out = {};
        for (const f of fields) out[f] = row[f];
        return out;
    }
    const check = (sid, expected, what) =>
        eventually(() => session(sid, Object.keys(expected)), expected, what);
    const noDims = { cdn: '', platform: '', player: '', os: '', browser: '', device: '',
                     country: '', asset: '', title: '', isp: '', subscriberid: '',
                     subscribertag: '' };

    const profile = path.join(tmp, 'chromium-profile');
    context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: { width: 800, height: 600 },
        timezoneId: 'UTC',
        locale: 'en-US',
    });
    const page = context.pages()[0] || await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const warnings = [];
    page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
    const foreign = [];
    page.on('request', (r) => {
        const u = r.url();
        if (!u.startsWith(base) && !u.startsWith('blob:') && !u.startsWith('data:')) {
            foreign.push(u);
        }
    });

    await page.route((u) => u.origin === base && u.pathname.startsWith('/sdk/'),
                     (route) => route.fulfill(
                         serveSdkFile(new URL(route.request().url()).pathname)));

    // Every POST to /v1/events made by a live page is recorded (a beacon sent
    // while the page unloads is not seen here; it still reaches the server);
    // `plans` says what happens to the
    // next ones: 'pass' (to the server), 'store-then-abort' (the server
    // stores the batch, the page sees a reset connection), 503 or 400 (made
    // up here, the server sees nothing).
    const posts = [];
    const plans = [];
    await page.route((u) => u.origin === base && u.pathname === '/v1/events', async (route) => {
        const req = route.request();
        const rec = { url: req.url(), method: req.method(), headers: await req.allHeaders(),
                      body: req.postData(), plan: plans.shift() || 'pass' };
        posts.push(rec);
        if (rec.plan === 'store-then-abort') {
            const r = await route.fetch();
            rec.status = r.status();
            await route.abort('connectionreset');
        } else if (rec.plan === 503 || rec.plan === 400) {
            await route.fulfill({
                status: rec.plan, contentType: 'application/json',
                body: JSON.stringify({ error: 'injected', message: 'by the test' }),
            });
        } else {
            await route.continue();
        }
    });
    const seqs = (p) => JSON.parse(p.body).map((e) => `${e.sid}:${e.seq}`);

    await t.test('the module loads and refuses bad options', async () => {
        assert.equal((await page.goto(`${base}/sdk/module.html`)).status(), 200);
        await page.waitForFunction(() => window.sdkReady === true, null, { timeout: 10000 });
        const r = await page.evaluate(({ endpoint }) => {
            const { VexSDK, track } = window.imported;
            const errs = [];
            const tryit = (f) => { try { f(); errs.push('no error'); } catch (e) {
                errs.push(e instanceof TypeError ? 'TypeError' : String(e)); } };
            tryit(() => track(null, { key: 'k' }));                         // no endpoint
            tryit(() => track(null, { endpoint }));                         // no key
            tryit(() => track(null, { endpoint, key: 'k', dims: { CDN: 'x' } }));
            tryit(() => track(null, { endpoint, key: 'k', sid: 'x'.repeat(129) }));
            tryit(() => track(null, { endpoint, key: 'k', live: 'yes' }));
            tryit(() => track({}, { endpoint, key: 'k' }));                 // not an EventTarget
            return { same: VexSDK === window.VexSDK, hasTrack: track === VexSDK.track,
                     version: VexSDK.VERSION, dims: VexSDK.DIMENSIONS.length, errs };
        }, { endpoint });
        assert.deepEqual(r, { same: true, hasTrack: true, version: '1.0.0', dims: 12,
                              errs: Array(6).fill('TypeError') });
        assert.equal(posts.length, 0, 'refused trackers send nothing');
    });

    await t.test('media events of a fake element become one session, retries counted once',
                 async () => {
        // POST 1 (events 0..3) reaches the server, the page sees a reset
        // connection; POST 2 is its retry; POST 3 (4..14) gets a 503; POST 4
        // is its retry; POST 5 (the end) goes through.
        plans.push('store-then-abort', 'pass', 503, 'pass');
        const r = await page.evaluate(async ({ endpoint, key, dims }) => {
            const evs = [];
            const el = new EventTarget();
            Object.assign(el, { paused: true, ended: false, readyState: 1, error: null });
            const fire = (type) => el.dispatchEvent(new Event(type));
            const tr = window.imported.track(el, {
                endpoint, key, sid: 'sdk-main', dims, live: false, kbps: 2500,
                heartbeatMs: 3600000, batchMs: 3600000, retryMinMs: 20, retryMaxMs: 100,
                onEvent: (e) => evs.push(e),
            });
            const started = tr.state;                   // 0 start, sent at attach
            fire('waiting');                            //   waiting at startup: no rebuffer
            el.paused = false;
            el.readyState = 4;
            fire('playing');                            // 1 playing
            tr.setDims({ subscribertag: 'gold', cdn: 'late-cdn' });
            fire('waiting');                            // 2 buffering (carries the new dims)
            fire('playing');                            // 3 playing
            await tr.flush();                           // batch 0..3: stored, aborted, retried
            fire('waiting');                            // 4 buffering
            fire('waiting');                            //   already buffering: nothing
            fire('playing');                            // 5 playing
            fire('playing');                            //   already playing: nothing
            fire('stalled');                            //   readyState 4: playback goes on
            fire('seeking');                            // 6 seek
            fire('waiting');                            //   waiting in a seek: no rebuffer
            fire('seeked');                             //   still playing: nothing
            fire('playing');                            // 7 playing
            tr.setBitrate(4000);                        // 8 bitrate
            tr.setBitrate(4000);                        //   unchanged: nothing
            el.readyState = 2;
            fire('stalled');                            // 9 buffering (nothing to play)
            el.readyState = 4;
            fire('playing');                            // 10 playing
            el.paused = true;
            fire('pause');                              // 11 pause
            fire('seeking');                            // 12 seek
            fire('seeked');                             // 13 pause (a seek while paused)
            el.paused = false;
            fire('play');                               //   nothing (playing follows)
            fire('playing');                            // 14 playing
            await tr.flush();                           // batch 4..14: 503, retried
            el.paused = true;
            el.ended = true;
            fire('pause');                              //   the pause before ended: nothing
            fire('ended');                              // 15 end, sent at once
            fire('waiting');                            //   ended: nothing
            const endedState = tr.state;
            await tr.flush();
            return { started, endedState, state: tr.state, sid: tr.sid, pending: tr.pending,
                     evs };
        }, { endpoint, key, dims: DIMS_MAIN });

        assert.equal(r.started, 'starting');
        assert.equal(r.endedState, 'ended');
        assert.equal(r.sid, 'sdk-main');
        assert.equal(r.pending, 0);
        assert.deepEqual(r.evs.map((e) => e.type), [
            'start', 'playing', 'buffering', 'playing', 'buffering', 'playing', 'seek', 'playing',
            'bitrate', 'buffering', 'playing', 'pause', 'seek', 'pause', 'playing', 'end']);
        assert.deepEqual(r.evs.map((e) => e.seq), [...Array(16).keys()]);
        for (let i = 1; i < r.evs.length; i++) {
            assert.ok(r.evs[i].ts >= r.evs[i - 1].ts, 'ts does not go back');
            assert.equal(r.evs[i].sid, 'sdk-main');
        }
        // start carries every dimension given, live and the bitrate; later
        // events only what changed (setDims) or their own fields.
        assert.deepEqual(r.evs[0], { type: 'start', ...DIMS_MAIN, live: false, kbps: 2500,
                                     sid: 'sdk-main', seq: 0, ts: r.evs[0].ts });
        assert.deepEqual(r.evs[1], { type: 'playing', sid: 'sdk-main', seq: 1, ts: r.evs[1].ts });
        assert.deepEqual(r.evs[2], { type: 'buffering', subscribertag: 'gold', cdn: 'late-cdn',
                                     sid: 'sdk-main', seq: 2, ts: r.evs[2].ts });
        assert.deepEqual(r.evs[8], { type: 'bitrate', kbps: 4000, sid: 'sdk-main', seq: 8,
                                     ts: r.evs[8].ts });

        // The requests: 0..3 stored by the server but aborted, then the same
        // body again; 4..14 refused with 503, then again; 15 alone.
        const mine = posts.filter((p) => p.body.includes('"sdk-main"'));
        assert.deepEqual(mine.map((p) => p.plan),
                         ['store-then-abort', 'pass', 503, 'pass', 'pass']);
        assert.deepEqual(mine.map((p) => seqs(p).length), [4, 4, 11, 11, 1]);
        assert.equal(mine[0].body, mine[1].body, 'a retry sends the same events');
        assert.equal(mine[2].body, mine[3].body, 'a retry after 503 sends the same events');
        assert.deepEqual(mine.filter((p, i) => i !== 0 && i !== 2).flatMap(seqs),
                         [...Array(16).keys()].map((i) => `sdk-main:${i}`), 'order kept');
        for (const p of mine) {
            assert.equal(p.method, 'POST');
            assert.equal(p.url, endpoint);
            assert.equal(p.headers['x-vex-key'], KEY);
            assert.equal(p.headers['content-type'], 'application/json');
        }
        assert.equal(mine[0].status, 202, 'the aborted batch reached the server');
        assert.ok(warnings.some((w) => /sending 4 events failed \(network error/.test(w)),
                  warnings.join('\n'));
        assert.ok(warnings.some((w) => /sending 11 events failed \(HTTP 503\)/.test(w)),
                  warnings.join('\n'));

        // Hand-computed session: one attempt, played, rebuffered at seq 2, 4
        // and 9 (the retried batch counted once), ended by `end`. cdn is
        // akamai (from start, seq 0; the later late-cdn does not win);
        // subscribertag comes from seq 2, the first event that has it.
        await check('sdk-main', {
            attempts: 1, viewercount: 1, buffcount: 3, errors: 0, ebvs: 0,
            totalstartupfailure: 0, endedplays: 1, status: 'ENDED', streamtype: 'vod',
            ...DIMS_MAIN, subscribertag: 'gold',
        }, 'the main session');
    });

    await t.test('a fatal media error ends a live session; heartbeats stop', async () => {
        const r = await page.evaluate(async ({ endpoint, key }) => {
            const evs = [];
            // Already playing when attached: start and playing at once.
            const el = new EventTarget();
            Object.assign(el, { paused: false, ended: false, readyState: 4, error: null });
            const fire = (type) => el.dispatchEvent(new Event(type));
            const tr = window.imported.track(el, {
                endpoint, key, sid: 'sdk-fatal', live: true, dims: { cdn: 'fastly' },
                heartbeatMs: 100, batchMs: 50, onEvent: (e) => evs.push(e),
            });
            const attached = tr.state;
            fire('playing');                             // already playing: nothing
            const beats = () => evs.filter((e) => e.type === 'heartbeat').length;
            while (beats() < 3) await new Promise((res) => setTimeout(res, 20));
            el.error = { code: 3, message: 'decode failed' };
            fire('error');
            const after = evs.length;
            fire('waiting');
            tr.heartbeat();
            await new Promise((res) => setTimeout(res, 500));   // 5 heartbeat periods
            await tr.flush();
            return { evs, after, attached, state: tr.state };
        }, { endpoint, key });
        assert.equal(r.attached, 'playing');
        assert.equal(r.state, 'ended');
        assert.equal(r.evs.length, r.after, 'nothing after the fatal error, heartbeats included');
        const kinds = r.evs.map((e) => e.type).filter((x) => x !== 'heartbeat');
        assert.deepEqual(kinds, ['start', 'playing', 'error']);
        assert.ok(r.evs.filter((e) => e.type === 'heartbeat').length >= 3);
        assert.deepEqual(r.evs[0], { type: 'start', cdn: 'fastly', live: true, sid: 'sdk-fatal',
                                     seq: 0, ts: r.evs[0].ts });
        const err = r.evs[r.evs.length - 1];
        assert.deepEqual(err, { type: 'error', fatal: true, code: '3', msg: 'decode failed',
                                sid: 'sdk-fatal', seq: r.evs.length - 1, ts: err.ts });
        // Played, then failed: a VPF, one error, ended; streamtype from live.
        await check('sdk-fatal', {
            attempts: 1, viewercount: 1, buffcount: 0, errors: 1, ebvs: 0,
            totalstartupfailure: 0, endedplays: 1, status: 'ENDED', streamtype: 'live',
            ...noDims, cdn: 'fastly',
        }, 'the failed session');
    });

    await t.test('a batch refused with 400 is dropped and the next goes on', async () => {
        const before = posts.length;
        plans.push('pass', 400, 'pass');
        const r = await page.evaluate(async ({ endpoint, key }) => {
            const tr = window.imported.track(null, {
                endpoint, key, sid: 'sdk-drop', dims: { cdn: 'cloudfront' }, batchMs: 3600000,
            });
            tr.start();                                  // 0 start
            await tr.flush();
            tr.playing();                                // 1 playing: refused below
            await tr.flush();
            tr.end();                                    // 2 end
            await tr.flush();
            return { state: tr.state, pending: tr.pending };
        }, { endpoint, key });
        assert.deepEqual(r, { state: 'ended', pending: 0 });
        const mine = posts.slice(before);
        assert.deepEqual(mine.map((p) => [p.plan, seqs(p)]),
                         [['pass', ['sdk-drop:0']], [400, ['sdk-drop:1']],
                          ['pass', ['sdk-drop:2']]]);
        const refused = /refused a batch of 1 events \(HTTP 400\), dropped:.*injected/;
        assert.ok(warnings.some((w) => refused.test(w)), warnings.join('\n'));
        // The server saw start and end only: an exit before video start.
        await check('sdk-drop', {
            attempts: 1, viewercount: 0, errors: 0, ebvs: 1, endedplays: 0, status: 'ENDED',
            ...noDims, cdn: 'cloudfront',
        }, 'the session whose playing was dropped');
    });

    await t.test('a hidden page sends what is pending by beacon; the session goes on',
                 async () => {
        const before = posts.length;
        const r = await page.evaluate(async ({ endpoint, key }) => {
            const tr = window.imported.track(null, {
                endpoint, key, sid: 'sdk-hidden', dims: { cdn: 'bunny' }, batchMs: 3600000,
            });
            tr.playing();                                // 0 start, 1 playing
            Object.defineProperty(document, 'visibilityState',
                                  { value: 'hidden', configurable: true });
            document.dispatchEvent(new Event('visibilitychange'));
            delete document.visibilityState;
            return { state: tr.state, pending: tr.pending };
        }, { endpoint, key });
        assert.deepEqual(r, { state: 'playing', pending: 0 });
        await check('sdk-hidden', { attempts: 1, viewercount: 1, status: 'RUNNING', cdn: 'bunny' },
                    'the session is still running after the page was hidden');
        const mine = posts.slice(before);
        assert.equal(mine.length, 1);
        assert.equal(mine[0].url, `${endpoint}?key=${encodeURIComponent(KEY)}`);
        assert.equal(mine[0].headers['x-vex-key'], undefined, 'a beacon has no key header');
        assert.match(mine[0].headers['content-type'], /^text\/plain/);
        assert.deepEqual(seqs(mine[0]), ['sdk-hidden:0', 'sdk-hidden:1']);
    });

    await t.test('leaving the page ends the hidden session (pagehide, beacon)', async () => {
        assert.equal((await page.goto(`${base}/sdk/classic.html`)).status(), 200);
        await check('sdk-hidden', { attempts: 1, viewercount: 1, status: 'ENDED', cdn: 'bunny' },
                    'the hidden session ended by pagehide');
    });

    await t.test('the classic script tracks a real video played to the end', async () => {
        await page.waitForFunction(() => window.sdkReady === true, null, { timeout: 10000 });
        const r = await page.evaluate(async ({ endpoint, key }) => {
            const blob = await makeWebm(1200);
            const evs = [];
            const v = document.createElement('video');
            v.muted = true;
            document.body.appendChild(v);
            // Attached before it has a source: the session starts with it.
            const tr = window.VexSDK.track(v, {
                endpoint, key, sid: 'sdk-video', dims: { cdn: 'edgio', player: 'html5' },
                batchMs: 100, onEvent: (e) => evs.push(e),
            });
            const idle = tr.state;
            const ended = new Promise((res) => v.addEventListener('ended', res));
            v.src = URL.createObjectURL(blob);
            await v.play();
            await Promise.race([ended, new Promise((res) => setTimeout(res, 20000))]);
            await tr.flush();
            return { idle, state: tr.state, ended: v.ended, types: evs.map((e) => e.type),
                     code: evs.filter((e) => e.type === 'error').map((e) => e.code) };
        }, { endpoint, key });
        assert.equal(r.idle, 'idle', 'no session before the element has a source');
        assert.equal(r.ended, true, 'the video played to its end');
        assert.equal(r.state, 'ended');
        assert.equal(r.types[0], 'start');
        assert.equal(r.types[r.types.length - 1], 'end');
        assert.ok(r.types.includes('playing'));
        assert.ok(!r.types.includes('pause'), `the pause at the end is no pause: ${r.types}`);
        assert.ok(!r.types.includes('error'));
        const rebuffers = r.types.filter((x) => x === 'buffering').length;
        await check('sdk-video', {
            attempts: 1, viewercount: 1, buffcount: rebuffers, errors: 0, ebvs: 0,
            totalstartupfailure: 0, endedplays: 1, status: 'ENDED', cdn: 'edgio', player: 'html5',
        }, 'the real video session');
    });

    await t.test('a real video whose source cannot play is a video start failure', async () => {
        const r = await page.evaluate(async ({ endpoint, key }) => {
            const evs = [];
            const v = document.createElement('video');
            const failed = new Promise((res) => v.addEventListener('error', res));
            v.src = URL.createObjectURL(new Blob([new Uint8Array(2000).fill(7)],
                                                 { type: 'video/webm' }));
            const tr = window.VexSDK.track(v, {
                endpoint, key, sid: 'sdk-badsrc', dims: { cdn: 'edgio' }, batchMs: 100,
                onEvent: (e) => evs.push(e),
            });
            await Promise.race([failed, new Promise((res) => setTimeout(res, 20000))]);
            await tr.flush();
            return { state: tr.state, evs };
        }, { endpoint, key });
        assert.equal(r.state, 'ended');
        assert.deepEqual(r.evs.map((e) => e.type), ['start', 'error']);
        // MEDIA_ERR_SRC_NOT_SUPPORTED: the bytes are no media at all.
        assert.equal(r.evs[1].code, '4');
        assert.equal(r.evs[1].fatal, true);
        assert.equal(typeof r.evs[1].msg, 'string');
        await check('sdk-badsrc', {
            attempts: 1, viewercount: 0, errors: 1, ebvs: 0, totalstartupfailure: 1,
            endedplays: 0, status: 'ENDED', cdn: 'edgio',
        }, 'the failed start');
    });

    await t.test('leaving the page sends the pending events and the end by beacon', async () => {
        const before = posts.length;
        await page.evaluate(({ endpoint, key }) => {
            // Each beacon is noted in localStorage, which outlives the page.
            const send = navigator.sendBeacon.bind(navigator);
            navigator.sendBeacon = (url, body) => {
                const log = JSON.parse(localStorage.getItem('beacons') || '[]');
                log.push({ url, type: typeof body, body });
                localStorage.setItem('beacons', JSON.stringify(log));
                return send(url, body);
            };
            window.beaconTracker = window.VexSDK.track(null, {
                endpoint, key, sid: 'sdk-beacon', dims: { cdn: 'stackpath' }, batchMs: 3600000,
            });
            window.beaconTracker.start();                 // 0 start
            window.beaconTracker.playing();               // 1 playing
        }, { endpoint, key });
        // Nothing was sent while the page lived (batchMs is an hour)...
        assert.equal(posts.length, before);
        await page.goto(`${base}/sdk/blank.html`);        // pagehide: 2 end, by beacon
        // ...so start, playing and end all came with the page's last breath.
        await check('sdk-beacon', {
            attempts: 1, viewercount: 1, ebvs: 0, endedplays: 1, status: 'ENDED',
            cdn: 'stackpath',
        }, 'the session ended by pagehide');
        // pagehide and visibilitychange both fire while a page unloads: in
        // whichever order, each event goes out once, and only by beacon.
        const beacons = JSON.parse(await page.evaluate(() => localStorage.getItem('beacons')));
        assert.ok(beacons.length >= 1, JSON.stringify(beacons));
        for (const b of beacons) {
            assert.equal(b.url, `${endpoint}?key=${encodeURIComponent(KEY)}`);
            assert.equal(b.type, 'string', 'a string body goes as text/plain');
        }
        assert.deepEqual(beacons.flatMap((b) => JSON.parse(b.body)).map((e) =>
            [e.sid, e.seq, e.type]),
            [['sdk-beacon', 0, 'start'], ['sdk-beacon', 1, 'playing'], ['sdk-beacon', 2, 'end']]);
    });

    assert.deepEqual(foreign, [], 'the pages request nothing outside the server');
    assert.deepEqual(pageErrors, [], 'no script errors');

    await t.test('the server stops cleanly', async () => {
        await context.close();
        context = null;
        const exited = new Promise((r) => server.once('exit', (code, sig) => r({ code, sig })));
        server.kill('SIGTERM');
        const { code, sig } = await exited;
        assert.deepEqual({ code, sig }, { code: 0, sig: null },
                         fs.readFileSync(path.join(tmp, 'serve.log'), 'utf8').slice(-4000));
    });
});
