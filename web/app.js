// app.js - the vex dashboard's logic: sign-in (Keycloak-style token endpoint),
// token refresh, and the views (KPI tiles, time-series chart, breakdown
// table, sessions list) over the server's own metrics API. Plain modern
// JavaScript, no framework and no build step: the file is embedded in the
// vex binary as it is. Every piece of API data reaches the page through
// textContent or SVG attributes, never through innerHTML, so that a
// dimension value sent by a player can never inject markup.
'use strict';

const REALM = 'vex';
const CLIENT_ID = 'smartsight-backend';
const AUTO_REFRESH_MS = 30000;
const STORE_AUTH = 'vex.auth';
const STORE_PREFS = 'vex.prefs';
const BREAKDOWN_LIMIT = 25;
const SESSIONS_LIMIT = 50;
// The API refuses periods over 400 days (SPEC 4.1).
const MAX_SPAN_S = 400 * 86400;
// More chart points than this is unreadable and slow to draw.
const MAX_CHART_POINTS = 5000;

const DIM_LABELS = {
    cdn: 'CDN', platform: 'Platform', player: 'Player', country: 'Country', os: 'OS',
    browser: 'Browser', device: 'Device', isp: 'ISP', asset: 'Asset',
    streamtype: 'Stream type', title: 'Title', subscriberid: 'Subscriber',
    subscribertag: 'Subscriber tag',
};

// Thresholds colour a tile: [good, warning] limits; beyond the warning limit
// it is bad. `up` means higher is better.
const TILES = [
    { key: 'viewercount', label: 'Plays', fmt: 'count',
      hint: 'Sessions that started playing video' },
    { key: 'attempts', label: 'Attempts', fmt: 'count',
      hint: 'Sessions that tried to play, whatever happened next' },
    { key: 'concurviewavg', label: 'Concurrent plays', fmt: 'dec2',
      hint: 'Average number of sessions open at the same time over the period' },
    { key: 'endedplays', label: 'Ended plays', fmt: 'count',
      hint: 'Plays that ended inside the period' },
    { key: 'startupabandonmentrate', label: 'EBVS', fmt: 'pct', limits: [5, 15],
      hint: 'Exits before video start, % of attempts' },
    { key: 'failurerate', label: 'VSF', fmt: 'pct', limits: [1, 3],
      hint: 'Video start failures, % of attempts' },
    { key: 'playbackfailurerate', label: 'VPF', fmt: 'pct', limits: [1, 3],
      hint: 'Video playback failures (fatal error after start), % of plays' },
    { key: 'bufferingratio', label: 'Buffering ratio', fmt: 'pct', limits: [1, 3],
      hint: 'Time spent rebuffering or seeking, % of viewing time' },
    { key: 'sumbuffwaitcirr', label: 'CIRR', fmt: 'pct', limits: [1, 3],
      hint: 'Connection-induced rebuffering, % of viewing time' },
    { key: 'vrtbufferingratio', label: 'VRT', fmt: 'pct', limits: [1, 3],
      hint: 'Video restart time after seeks, % of viewing time' },
    { key: 'latency', label: 'Startup time', fmt: 'sec', limits: [2, 4],
      sub: { key: 'median_latency', fmt: 'sec', prefix: 'median ' },
      hint: 'Mean time from attempt to first frame, over plays' },
    { key: 'qualityofexperience', label: 'QoE', fmt: 'score', limits: [80, 60], up: true,
      hint: 'Playback score 0-100 (startup, smoothness, bitrate), mean over sessions' },
    { key: 'avgbitrate', label: 'Average bitrate', fmt: 'kbps',
      hint: 'Time-weighted bitrate while playing' },
    { key: 'uniqueviewercount', label: 'Unique viewers', fmt: 'count',
      hint: 'Distinct subscriber ids' },
];

const CHARTS = {
    plays: { title: 'Plays and attempts', metrics: ['viewercount', 'attempts'],
             series: [{ key: 'attempts', label: 'Attempts', cls: 's2' },
                      { key: 'viewercount', label: 'Plays', cls: 's1', area: true }],
             fmt: 'count', zeroFill: true },
    concurviewavg: { title: 'Concurrent plays', metrics: ['concurviewavg'],
                     series: [{ key: 'concurviewavg', label: 'Concurrent plays', cls: 's1',
                                area: true }], fmt: 'dec2' },
    qualityofexperience: { title: 'QoE score', metrics: ['qualityofexperience'],
                           series: [{ key: 'qualityofexperience', label: 'QoE', cls: 's3' }],
                           fmt: 'score', yMax: 100 },
    bufferingratio: { title: 'Buffering ratio', metrics: ['bufferingratio'],
                      series: [{ key: 'bufferingratio', label: 'Buffering ratio %',
                                 cls: 's4', area: true }], fmt: 'pct' },
    startupabandonmentrate: { title: 'EBVS %', metrics: ['startupabandonmentrate'],
                              series: [{ key: 'startupabandonmentrate', label: 'EBVS %',
                                         cls: 's4' }], fmt: 'pct' },
    latency: { title: 'Startup time', metrics: ['latency'],
               series: [{ key: 'latency', label: 'Startup time (s)', cls: 's3' }], fmt: 'sec' },
};

const BREAKDOWN_COLUMNS = [
    { key: 'viewercount', label: 'Plays', fmt: 'count' },
    { key: 'attempts', label: 'Attempts', fmt: 'count' },
    { key: 'startupabandonmentrate', label: 'EBVS %', fmt: 'num2' },
    { key: 'failurerate', label: 'VSF %', fmt: 'num2' },
    { key: 'playbackfailurerate', label: 'VPF %', fmt: 'num2' },
    { key: 'bufferingratio', label: 'Buffering %', fmt: 'num2' },
    { key: 'latency', label: 'Startup (s)', fmt: 'num2' },
    { key: 'qualityofexperience', label: 'QoE', fmt: 'score' },
    { key: 'avgbitrate', label: 'Bitrate (kbps)', fmt: 'count' },
    { key: 'playdur', label: 'Watch time', fmt: 'duration' },
];

const SESSION_COLUMNS = [
    { key: 'sessionid', label: 'Session', fmt: 'text', cls: 'mono' },
    { key: 'starttime', label: 'Started', fmt: 'datetime' },
    { key: 'endtime', label: 'Last event', fmt: 'datetime' },
    { key: 'watchtime', label: 'Watch time', fmt: 'duration' },
    { key: 'assetname', label: 'Asset', fmt: 'text' },
    { key: 'status', label: 'Status', fmt: 'status' },
    { key: 'qualityofexperience', label: 'QoE', fmt: 'score' },
    { key: 'cdn', label: 'CDN', fmt: 'text', dim: 'cdn' },
    { key: 'platform', label: 'Platform', fmt: 'text', dim: 'platform' },
];

const state = {
    auth: null,          // {access, refresh, accessExp, refreshExp, claims}
    refreshing: null,    // the token refresh in flight, shared by its callers
    refreshTimer: 0,
    autoTimer: 0,
    customer: '',
    planlevel: null,
    period: '86400',     // seconds back from now, or 'custom'
    custom: null,        // {start, end} epoch seconds
    filters: [],         // {dim, op: '=' | '!=', value}
    view: 'overview',
    chartMetric: 'plays',
    granularity: 'auto',
    dim: 'cdn',
    bdSort: { by: 'attempts', dir: 'DESC' },
    bdOffset: 0,
    ssSort: { by: 'starttime', dir: 'DESC' },
    ssOffset: 0,
    gen: { tiles: 0, chart: 0, breakdown: 0, sessions: 0 },
    errors: new Map(),   // panel -> message
    lastChart: null,     // what renderChart drew, to redraw on resize
};

const $ = (id) => document.getElementById(id);

/* ---------- small helpers ---------- */

// h builds an element: h('td', {class: 'num'}, 'text', childNode).
function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
        if (c === undefined || c === null) continue;
        el.append(c instanceof Node ? c : String(c));
    }
    return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const c of children) el.append(c instanceof Node ? c : String(c));
    return el;
}

const pad2 = (n) => String(n).padStart(2, '0');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov',
                'Dec'];

function fmtDateTime(ms) {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
           `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

function fmtDuration(sec) {
    if (!isFinite(sec) || sec <= 0) return '0 s';
    if (sec < 60) return `${sec < 10 ? sec.toFixed(1) : Math.round(sec)} s`;
    const m = Math.floor(sec / 60);
    if (m < 60) return `${m} min ${pad2(Math.round(sec - m * 60))} s`;
    const hours = Math.floor(m / 60);
    return `${hours.toLocaleString('en-US')} h ${pad2(m - hours * 60)} min`;
}

const nf = (digits) => new Intl.NumberFormat('en-US', {
    minimumFractionDigits: digits, maximumFractionDigits: digits,
});
const NF0 = nf(0), NF1 = nf(1), NF2 = nf(2);

// fmt turns an API value into what a person reads; units of tiles are
// spelled out, table columns carry theirs in the header.
function fmt(kind, v) {
    if (v === undefined || v === null) return '—';
    switch (kind) {
    case 'count': return NF0.format(v);
    case 'dec2': return NF2.format(v);
    case 'num2': return NF2.format(v);
    case 'pct': return `${NF2.format(v)} %`;
    case 'sec': return `${NF2.format(v)} s`;
    case 'score': return NF1.format(v);
    case 'kbps': return `${NF0.format(v)} kbps`;
    case 'duration': return fmtDuration(v);
    case 'datetime': return v ? fmtDateTime(v) : '—';
    default: return String(v);
    }
}

// encFilterValue percent-encodes a filter value so that none of the filter
// syntax characters (, | [ ] = !) inside it is taken as syntax: the server
// splits `filter` on them before decoding (SPEC 4.7).
function encFilterValue(v) {
    return encodeURIComponent(v).replace(/[!'()*]/g,
        (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

const dimLabel = (d) => DIM_LABELS[d] || d;

/* ---------- tokens ---------- */

class ApiError extends Error {
    constructor(status, code, message, retryAfter) {
        super(message);
        this.status = status;
        this.code = code || '';
        this.retryAfter = retryAfter || '';
    }
}

// decodeJwt returns the claims of a JWT (its payload, base64url JSON). The
// signature is the server's business; the page only reads the claims.
function decodeJwt(token) {
    const part = String(token).split('.')[1] || '';
    let b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
}

async function tokenRequest(fields) {
    let r;
    try {
        r = await fetch(`/realms/${REALM}/protocol/openid-connect/token`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams(fields).toString(),
            cache: 'no-store',
        });
    } catch (e) {
        throw new ApiError(0, 'network', 'Cannot reach the vex server. Check that it is running.');
    }
    let body = {};
    try { body = await r.json(); } catch (e) { body = {}; }
    if (!r.ok) {
        throw new ApiError(r.status, body.error,
            body.error_description || body.message || `HTTP ${r.status}`,
            r.headers.get('Retry-After'));
    }
    return body;
}

function acceptTokens(body) {
    const now = Date.now();
    const claims = decodeJwt(body.access_token);
    state.auth = {
        access: body.access_token,
        refresh: body.refresh_token || '',
        accessExp: now + (Number(body.expires_in) || 300) * 1000,
        refreshExp: now + (Number(body.refresh_expires_in) || 0) * 1000,
        claims,
    };
    try {
        sessionStorage.setItem(STORE_AUTH, JSON.stringify(state.auth));
    } catch (e) { /* storage disabled: the tokens stay in memory only */ }
    scheduleRefresh();
}

// scheduleRefresh renews the access token a little before it expires (a
// fifth of its life, at most a minute), so that requests never carry an
// expired token while the page stays open.
function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    if (!state.auth || !state.auth.refresh) return;
    const now = Date.now();
    const life = state.auth.accessExp - now;
    const lead = Math.min(60000, Math.max(1000, life / 5));
    const delay = Math.max(1000, life - lead);
    state.refreshTimer = setTimeout(() => {
        refreshTokens().catch(
            (e) => signOut(`Your session ended: ${e.message}. Please sign in again.`));
    }, delay);
}

// refreshTokens swaps the refresh token for new tokens. Refresh tokens are
// single-use, so concurrent callers share one request.
function refreshTokens() {
    if (state.refreshing) return state.refreshing;
    if (!state.auth || !state.auth.refresh) {
        return Promise.reject(new ApiError(401, 'invalid_grant', 'no refresh token'));
    }
    state.refreshing = tokenRequest({
        grant_type: 'refresh_token', refresh_token: state.auth.refresh, client_id: CLIENT_ID,
    }).then(acceptTokens).finally(() => { state.refreshing = null; });
    return state.refreshing;
}

/* ---------- API ---------- */

// api GETs path?params with the bearer token and returns the parsed JSON.
// One 401 is answered by a token refresh and a retry; a second one ends the
// session. Other errors come back as ApiError with the server's message.
async function api(path, params, retried) {
    const qs = params.filter(([, v]) => v !== undefined && v !== null && v !== '')
        .map(([k, v, raw]) => `${k}=${raw ? v : encodeURIComponent(v)}`).join('&');
    const url = qs ? `${path}?${qs}` : path;
    let r;
    try {
        const token = state.auth ? state.auth.access : '';
        r = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
    } catch (e) {
        throw new ApiError(0, 'network', 'Cannot reach the vex server. Check that it is running.');
    }
    if (r.status === 401 && !retried && state.auth && state.auth.refresh) {
        try {
            await refreshTokens();
        } catch (e) {
            signOut('Your session has expired. Please sign in again.');
            throw new ApiError(401, 'expired', 'Your session has expired.');
        }
        return api(path, params, true);
    }
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
        if (r.status === 401) signOut('Your session has expired. Please sign in again.');
        const code = body && body.error;
        const msg = (body && (body.message || body.error_description)) ||
                    `the server answered HTTP ${r.status}`;
        throw new ApiError(r.status, code, msg, r.headers.get('Retry-After'));
    }
    if (!body || typeof body !== 'object') {
        throw new ApiError(r.status, 'bad_reply', 'the server sent a reply that is not JSON');
    }
    return body;
}

function periodRange() {
    if (state.period === 'custom' && state.custom) return state.custom;
    const end = Math.floor(Date.now() / 1000);
    return { start: end - Number(state.period), end };
}

function filterParam() {
    return state.filters.map((f) => `${f.dim}${f.op}${encFilterValue(f.value)}`).join(',');
}

// baseParams: what every query of the legacy endpoints carries. `raw` marks
// values that are already encoded.
function baseParams(withPlan) {
    const p = periodRange();
    const out = [];
    if (withPlan) out.push(['planlevel', String(state.planlevel)]);
    out.push(['period', `start=${p.start},end=${p.end}`, true]);
    const f = filterParam();
    // Values inside are percent-encoded already (encFilterValue); the
    // separators must stay as they are.
    if (f) out.push(['filter', f, true]);
    return out;
}

const custPath = (prefix) => `${prefix}/${encodeURIComponent(state.customer)}`;

/* ---------- errors and status ---------- */

function setError(panel, err) {
    if (err) {
        let msg = err.message || String(err);
        if (err.status) msg += ` (HTTP ${err.status}${err.code ? ', ' + err.code : ''})`;
        state.errors.set(panel, msg);
    } else {
        state.errors.delete(panel);
    }
    const box = $('errors');
    box.replaceChildren();
    for (const [p, m] of state.errors) {
        box.append(h('p', { class: 'error-line' }, h('strong', {}, `${p}: `), m));
    }
    box.hidden = state.errors.size === 0;
}

function setStatus() {
    const p = periodRange();
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
    $('status').textContent =
        `${fmtDateTime(p.start * 1000)} → ${fmtDateTime(p.end * 1000)} (${tz}) · ` +
        `plan level ${state.planlevel ?? '?'} · updated ${fmtDateTime(Date.now()).slice(11)}`;
}

function busy(el, on) {
    el.setAttribute('aria-busy', on ? 'true' : 'false');
}

/* ---------- KPI tiles ---------- */

function buildTiles() {
    const box = $('tiles');
    box.replaceChildren();
    for (const t of TILES) {
        const id = `tile-${t.key}`;
        box.append(h('div', { class: 'tile', id, role: 'group', 'aria-labelledby': `${id}-label`,
                              title: t.hint },
            h('div', { class: 'tile-label', id: `${id}-label` }, t.label),
            h('div', { class: 'tile-value' }, '—'),
            h('div', { class: 'tile-sub' }, t.sub ? ' ' : '')));
    }
}

function tileLevel(t, v) {
    if (!t.limits) return '';
    const [good, warn] = t.limits;
    if (t.up) return v >= good ? 'good' : v >= warn ? 'warn' : 'bad';
    return v <= good ? 'good' : v <= warn ? 'warn' : 'bad';
}

async function loadTiles() {
    const gen = ++state.gen.tiles;
    const box = $('tiles');
    busy(box, true);
    const metrics = [];
    for (const t of TILES) {
        metrics.push(t.key);
        if (t.sub) metrics.push(t.sub.key);
    }
    try {
        const body = await api(custPath('/mm-apis/session'),
            [...baseParams(true), ['metrics', metrics.join(','), true]]);
        if (gen !== state.gen.tiles) return;
        const row = (body.response && body.response[0]) || {};
        const any = (row.attempts || 0) > 0;
        for (const t of TILES) {
            const el = $(`tile-${t.key}`);
            el.querySelector('.tile-value').textContent = fmt(t.fmt, row[t.key]);
            if (t.sub) {
                el.querySelector('.tile-sub').textContent =
                    t.sub.prefix + fmt(t.sub.fmt, row[t.sub.key]);
            }
            el.dataset.level = any ? tileLevel(t, row[t.key]) : '';
        }
        setError('Key indicators', null);
    } catch (e) {
        if (gen !== state.gen.tiles) return;
        for (const t of TILES) $(`tile-${t.key}`).querySelector('.tile-value').textContent = '—';
        setError('Key indicators', e);
    } finally {
        if (gen === state.gen.tiles) busy(box, false);
    }
}

/* ---------- chart ---------- */

const GRAN_SIZE = { minute: 60, '5minute': 300, '10minute': 600, hour: 3600, day: 86400 };
const GRAN_NAME = { 60: 'minute', 300: '5 minutes', 600: '10 minutes', 3600: 'hour', 86400: 'day' };

// bucketSize follows the server's `granularity=auto` rule (SPEC 4.1), so the
// page knows the buckets the server makes and can fill empty ones.
function bucketSize(gran, span) {
    if (gran !== 'auto') return GRAN_SIZE[gran];
    if (span <= 6 * 3600) return 60;
    if (span <= 7 * 86400) return 3600;
    return 86400;
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

// Tick steps of the time axis, in seconds: round numbers of minutes, hours
// and days.
const TICK_STEPS = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
                    604800, 1209600, 2592000];

// timeTicks picks the smallest round step that gives at most maxTicks
// labels over [first, last] and returns the ticks on whole steps of local
// time (so days start at local midnight).
function timeTicks(first, last, maxTicks) {
    const span = Math.max(1, last - first);
    const step = TICK_STEPS.find((st) => span / st <= maxTicks) ||
                 2592000 * Math.ceil(span / maxTicks / 2592000);
    const east = -new Date(first * 1000).getTimezoneOffset() * 60;
    const ticks = [];
    for (let t = Math.ceil((first + east) / step) * step - east; t <= last; t += step) {
        ticks.push(t);
    }
    return { ticks, step };
}

function timeLabel(t, step, prevT) {
    const d = new Date(t * 1000);
    const day = `${MONTHS[d.getMonth()]} ${d.getDate()}`;
    if (step >= 86400) return day;
    const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
    const p = prevT === null ? null : new Date(prevT * 1000);
    return !p || p.getDate() !== d.getDate() ? `${day} ${hm}` : hm;
}

async function loadChart() {
    const gen = ++state.gen.chart;
    const box = $('chart');
    const def = CHARTS[state.chartMetric];
    const p = periodRange();
    const size = bucketSize(state.granularity, p.end - p.start);
    const first = Math.floor(p.start / size) * size;
    const n = Math.ceil((p.end - first) / size);
    busy(box, true);
    renderLegend(def);
    if (n > MAX_CHART_POINTS) {
        state.lastChart = null;
        chartMessage(`${NF0.format(n)} points is too many to draw: choose a coarser granularity.`);
        busy(box, false);
        return;
    }
    try {
        const body = await api(custPath('/mm-apis/session'), [
            ...baseParams(true), ['metrics', def.metrics.join(','), true],
            ['aggby', 'timestamp'], ['granularity', state.granularity], ['limit', '10000'],
        ]);
        if (gen !== state.gen.chart) return;
        state.lastChart = { def, rows: body.response || [], first, n, size, period: p };
        renderChart();
        setError('Chart', null);
    } catch (e) {
        if (gen !== state.gen.chart) return;
        state.lastChart = null;
        chartMessage('The chart could not be loaded.');
        setError('Chart', e);
    } finally {
        if (gen === state.gen.chart) busy(box, false);
    }
}

function renderLegend(def) {
    $('chart-legend').replaceChildren(...def.series.slice().reverse().map((sr) =>
        h('span', { class: `legend-item ${sr.cls}` }, h('span', { class: 'swatch' }), sr.label)));
}

function chartMessage(text) {
    const box = $('chart');
    box.replaceChildren(h('p', { class: 'chart-empty' }, text));
    box.setAttribute('aria-label', text);
}

function renderChart() {
    const c = state.lastChart;
    if (!c) return;
    const box = $('chart');
    const { def, rows, first, n, size } = c;
    const byTs = new Map(rows.map((r) => [r.timestamp, r]));
    const ts = Array.from({ length: n }, (_, i) => first + i * size);
    // Counts are 0 in a bucket without sessions; a rate there has no value.
    const values = def.series.map((sr) => ts.map((t) => {
        const r = byTs.get(t);
        if (r && typeof r[sr.key] === 'number') return r[sr.key];
        return def.zeroFill ? 0 : null;
    }));
    if (rows.length === 0) {
        chartMessage('No sessions in this period.');
        return;
    }
    const W = Math.max(320, box.clientWidth || 800);
    const H = 260;
    const m = { l: 56, r: 16, t: 14, b: 30 };
    const iw = W - m.l - m.r;
    const ih = H - m.t - m.b;
    let max = 0;
    for (const vs of values) for (const v of vs) if (v !== null && v > max) max = v;
    if (def.yMax) max = Math.max(max, def.yMax);
    const step = max > 0 ? niceStep(max / 4) : 1;
    const top = max > 0 ? Math.ceil(max / step) * step : 4;
    const x = (i) => m.l + (n === 1 ? iw / 2 : (i * iw) / (n - 1));
    const y = (v) => m.t + ih - (v / top) * ih;

    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart-svg',
                           'aria-hidden': 'true' });
    const grid = s('g', { class: 'grid-lines' });
    for (let v = 0; v <= top + step / 2; v += step) {
        grid.append(s('line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
        grid.append(s('text', { x: m.l - 8, y: y(v) + 4, class: 'axis-y' },
            def.fmt === 'count' ? NF0.format(v) : String(+v.toFixed(6))));
    }
    svg.append(grid);
    const xaxis = s('g', { class: 'axis-x' });
    const { ticks, step: tstep } = timeTicks(first, ts[n - 1], Math.max(2, Math.floor(iw / 95)));
    let prev = null;
    for (const t of ticks) {
        const xi = x((t - first) / size);
        xaxis.append(s('line', { x1: xi, x2: xi, y1: m.t + ih, y2: m.t + ih + 4 }));
        xaxis.append(s('text', { x: xi, y: H - 8 }, timeLabel(t, tstep, prev)));
        prev = t;
    }
    svg.append(xaxis);

    def.series.forEach((sr, si) => {
        const vs = values[si];
        let d = '';
        let area = '';
        let run = [];
        const flush = () => {
            if (run.length === 0) return;
            d += run.map(([i, v], k) => `${k ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`)
                .join('');
            if (sr.area && run.length > 1) {
                area += `M${x(run[0][0]).toFixed(1)},${y(0)}` +
                    run.map(([i, v]) => `L${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('') +
                    `L${x(run[run.length - 1][0]).toFixed(1)},${y(0)}Z`;
            }
            run = [];
        };
        vs.forEach((v, i) => { if (v === null) flush(); else run.push([i, v]); });
        flush();
        const g = s('g', { class: `series ${sr.cls}`, 'data-series': sr.key });
        if (area) g.append(s('path', { d: area, class: 'area' }));
        g.append(s('path', { d, class: 'line' }));
        // Isolated points (and all points of short series) get a dot, or a
        // lone value would be invisible.
        vs.forEach((v, i) => {
            if (v === null) return;
            const lone = (i === 0 || vs[i - 1] === null) && (i === n - 1 || vs[i + 1] === null);
            if (lone || n <= 48) g.append(s('circle', { cx: x(i), cy: y(v), r: 2.5 }));
        });
        svg.append(g);
    });

    const guide = s('line', { class: 'guide', x1: 0, x2: 0, y1: m.t, y2: m.t + ih,
                              visibility: 'hidden' });
    svg.append(guide);
    const tip = h('div', { class: 'tooltip', hidden: true });
    svg.addEventListener('mousemove', (ev) => {
        const rect = svg.getBoundingClientRect();
        const px = ((ev.clientX - rect.left) / rect.width) * W;
        const i = n === 1 ? 0 : Math.round(((px - m.l) / iw) * (n - 1));
        if (i < 0 || i >= n) {
            guide.setAttribute('visibility', 'hidden');
            tip.hidden = true;
            return;
        }
        guide.setAttribute('x1', x(i));
        guide.setAttribute('x2', x(i));
        guide.setAttribute('visibility', 'visible');
        tip.replaceChildren(h('div', { class: 'tip-time' }, fmtDateTime(ts[i] * 1000)),
            ...def.series.slice().reverse().map((sr) => {
                const v = values[def.series.indexOf(sr)][i];
                return h('div', {}, h('span', { class: `swatch ${sr.cls}` }), `${sr.label}: `,
                    h('strong', {}, v === null ? 'no data' : fmt(def.fmt, v)));
            }));
        tip.hidden = false;
        const left = (x(i) / W) * rect.width;
        tip.style.left = `${Math.min(Math.max(0, left + 12), rect.width - 180)}px`;
    });
    svg.addEventListener('mouseleave', () => {
        guide.setAttribute('visibility', 'hidden');
        tip.hidden = true;
    });
    box.replaceChildren(svg, tip);
    const total = def.zeroFill
        ? def.series.map((sr, si) =>
            `${sr.label} ${NF0.format(values[si].reduce((a, b) => a + b, 0))}`).join(', ')
        : `${rows.length} buckets with data`;
    box.setAttribute('aria-label', `${def.title} per ${GRAN_NAME[size]}, ${n} points: ${total}`);
}

/* ---------- tables (breakdown and sessions) ---------- */

function sortHeader(col, sort, onSort) {
    const active = sort.by === col.key;
    const dir = active ? (sort.dir === 'ASC' ? 'ascending' : 'descending') : 'none';
    return h('th', { scope: 'col', 'aria-sort': dir, class: col.num ? 'num' : '' },
        h('button', { type: 'button', class: 'sort', onclick: () => onSort(col) },
            col.label,
            h('span', { class: 'sort-mark', 'aria-hidden': 'true' },
                active ? (sort.dir === 'ASC' ? '▲' : '▼') : '↕')));
}

// nextSort: a click on the sorted column flips it; a new column starts
// descending for numbers (worst or biggest first) and ascending for names.
function nextSort(sort, col) {
    if (sort.by === col.key) return { by: col.key, dir: sort.dir === 'ASC' ? 'DESC' : 'ASC' };
    return { by: col.key, dir: col.num ? 'DESC' : 'ASC' };
}

function valueCell(dim, value) {
    const shown = value === '' ? '(none)' : value;
    const what = `${dimLabel(dim)} = ${shown}`;
    return h('td', {}, h('span', { class: 'dimcell' },
        h('button', { type: 'button', class: `link${value === '' ? ' empty' : ''}`,
                      'aria-label': `Filter: ${what}`, title: `Show only ${what}`,
                      onclick: () => addFilter(dim, '=', value) }, shown),
        h('button', { type: 'button', class: 'exclude', 'aria-label': `Exclude: ${what}`,
                      title: `Exclude ${what}`, onclick: () => addFilter(dim, '!=', value) },
          '⊘')));
}

function pager(el, offset, limit, total, go) {
    el.replaceChildren();
    if (total === 0) return;
    const pages = Math.max(1, Math.ceil(total / limit));
    const page = Math.floor(offset / limit) + 1;
    el.append(
        h('span', { class: 'muted' },
            `Rows ${NF0.format(offset + 1)}–${NF0.format(Math.min(total, offset + limit))} of ` +
            `${NF0.format(total)} · page ${page} of ${pages}`),
        h('button', { type: 'button', class: 'btn btn-light', 'aria-label': 'Previous page',
                      disabled: page <= 1, onclick: () => go(offset - limit) }, '‹ Prev'),
        h('button', { type: 'button', class: 'btn btn-light', 'aria-label': 'Next page',
                      disabled: page >= pages, onclick: () => go(offset + limit) }, 'Next ›'));
}

async function loadBreakdown() {
    const gen = ++state.gen.breakdown;
    const table = $('breakdown');
    const dim = state.dim;
    busy(table, true);
    try {
        const body = await api(custPath('/mm-apis/session'), [
            ...baseParams(true),
            ['metrics', BREAKDOWN_COLUMNS.map((c) => c.key).join(','), true],
            ['aggby', dim], ['orderby', state.bdSort.by], ['orderas', state.bdSort.dir],
            ['limit', String(BREAKDOWN_LIMIT)], ['offset', String(state.bdOffset)],
        ]);
        if (gen !== state.gen.breakdown) return;
        const rows = body.response || [];
        const cols = [{ key: dim, label: dimLabel(dim), num: false },
                      ...BREAKDOWN_COLUMNS.map((c) => ({ ...c, num: true }))];
        const onSort = (col) => {
            state.bdSort = nextSort(state.bdSort, col);
            state.bdOffset = 0;
            loadBreakdown();
        };
        table.setAttribute('aria-label', `Breakdown by ${dimLabel(dim)}`);
        const thead = h('thead', {},
            h('tr', {}, ...cols.map((c) => sortHeader(c, state.bdSort, onSort))));
        const tbody = h('tbody', {});
        for (const r of rows) {
            tbody.append(h('tr', {}, valueCell(dim, r[dim] ?? ''),
                ...BREAKDOWN_COLUMNS.map((c) => h('td', { class: 'num' }, fmt(c.fmt, r[c.key])))));
        }
        if (rows.length === 0) {
            tbody.append(h('tr', {}, h('td', { colspan: cols.length, class: 'empty-row' },
                'No sessions in this period.')));
        }
        table.replaceChildren(thead, tbody);
        const total = body.totalcount || 0;
        pager($('breakdown-pager'), state.bdOffset, BREAKDOWN_LIMIT, total, (off) => {
            state.bdOffset = Math.max(0, off);
            loadBreakdown();
        });
        setError('Breakdown', null);
    } catch (e) {
        if (gen !== state.gen.breakdown) return;
        table.replaceChildren();
        $('breakdown-pager').replaceChildren();
        setError('Breakdown', e);
    } finally {
        if (gen === state.gen.breakdown) busy(table, false);
    }
}

async function loadSessions() {
    const gen = ++state.gen.sessions;
    const table = $('sessions');
    busy(table, true);
    try {
        // Sessions that started in the period, running ones included, as
        // the tiles count them (the endpoint's own default lists ended ones).
        const body = await api(custPath('/mm-apis/listsessions'), [
            ...baseParams(false),
            ['metrics', SESSION_COLUMNS.map((c) => c.key).join(','), true],
            ['sessiontype', 'started'], ['allstatus', '1'],
            ['orderby', state.ssSort.by], ['order', state.ssSort.dir],
            ['limit', String(SESSIONS_LIMIT)], ['offset', String(state.ssOffset)],
        ]);
        if (gen !== state.gen.sessions) return;
        const rows = body.response || [];
        const cols = SESSION_COLUMNS.map((c) => ({ ...c,
            num: ['starttime', 'endtime', 'watchtime', 'qualityofexperience'].includes(c.key) }));
        const onSort = (col) => {
            state.ssSort = nextSort(state.ssSort, col);
            state.ssOffset = 0;
            loadSessions();
        };
        const thead = h('thead', {},
            h('tr', {}, ...cols.map((c) => sortHeader(c, state.ssSort, onSort))));
        const tbody = h('tbody', {});
        for (const r of rows) {
            tbody.append(h('tr', {}, ...cols.map((c) => {
                const v = r[c.key];
                if (c.dim) return valueCell(c.dim, v ?? '');
                if (c.fmt === 'status') {
                    const live = v === 'RUNNING';
                    return h('td', {}, h('span', { class: `badge ${live ? 'live' : 'done'}` },
                        live ? 'Running' : 'Ended'));
                }
                const text = c.fmt === 'text' ? (v === '' || v == null ? '—' : v) : fmt(c.fmt, v);
                return h('td', { class: `${c.num ? 'num' : ''} ${c.cls || ''}`.trim() }, text);
            })));
        }
        if (rows.length === 0) {
            tbody.append(h('tr', {}, h('td', { colspan: cols.length, class: 'empty-row' },
                'No sessions in this period.')));
        }
        table.replaceChildren(thead, tbody);
        pager($('sessions-pager'), state.ssOffset, SESSIONS_LIMIT, body.totalcount || 0, (off) => {
            state.ssOffset = Math.max(0, off);
            loadSessions();
        });
        setError('Sessions', null);
    } catch (e) {
        if (gen !== state.gen.sessions) return;
        table.replaceChildren();
        $('sessions-pager').replaceChildren();
        setError('Sessions', e);
    } finally {
        if (gen === state.gen.sessions) busy(table, false);
    }
}

/* ---------- filters ---------- */

function addFilter(dim, op, value) {
    // One condition per dimension: a second AND on the same dimension would
    // only ever empty the result.
    state.filters = state.filters.filter((f) => f.dim !== dim);
    state.filters.push({ dim, op, value });
    filtersChanged();
}

function removeFilter(i) {
    state.filters.splice(i, 1);
    filtersChanged();
}

function filtersChanged() {
    state.bdOffset = 0;
    state.ssOffset = 0;
    renderFilters();
    savePrefs();
    loadCurrent();
}

function renderFilters() {
    const ul = $('filters');
    ul.replaceChildren(...state.filters.map((f, i) => {
        const shown = f.value === '' ? '(none)' : f.value;
        const text = `${dimLabel(f.dim)} ${f.op === '=' ? '=' : '≠'} ${shown}`;
        return h('li', { class: `chip${f.op === '!=' ? ' chip-not' : ''}` }, text,
            h('button', { type: 'button', class: 'chip-x', 'aria-label': `Remove filter ${text}`,
                          onclick: () => removeFilter(i) }, '×'));
    }));
    $('no-filters').hidden = state.filters.length > 0;
    $('clear-filters').hidden = state.filters.length === 0;
}

/* ---------- loading and views ---------- */

function loadCurrent() {
    if (!state.auth || !state.customer || state.planlevel === null) return;
    setStatus();
    if (state.view === 'overview') {
        loadTiles();
        loadChart();
        loadBreakdown();
    } else {
        loadSessions();
    }
}

function showView(view) {
    state.view = view;
    for (const [v, tab, panel] of [['overview', 'tab-overview', 'overview-view'],
                                   ['sessions', 'tab-sessions', 'sessions-view']]) {
        const on = v === view;
        $(tab).setAttribute('aria-selected', on ? 'true' : 'false');
        $(tab).tabIndex = on ? 0 : -1;
        $(panel).hidden = !on;
    }
    // Errors of the hidden view no longer apply.
    for (const p of view === 'overview' ? ['Sessions'] : ['Key indicators', 'Chart', 'Breakdown']) {
        setError(p, null);
    }
    savePrefs();
    loadCurrent();
}

function setAutoRefresh(on) {
    clearInterval(state.autoTimer);
    state.autoTimer = 0;
    $('autorefresh').checked = on;
    if (on) {
        state.autoTimer = setInterval(() => {
            if (!document.hidden) loadCurrent();
        }, AUTO_REFRESH_MS);
    }
    savePrefs();
}

function savePrefs() {
    const prefs = { customer: state.customer, period: state.period, custom: state.custom,
                    filters: state.filters, view: state.view, chartMetric: state.chartMetric,
                    granularity: state.granularity, dim: state.dim,
                    auto: state.autoTimer !== 0 };
    try { sessionStorage.setItem(STORE_PREFS, JSON.stringify(prefs)); } catch (e) { /* ignore */ }
}

function loadPrefs() {
    let p = null;
    try { p = JSON.parse(sessionStorage.getItem(STORE_PREFS) || 'null'); } catch (e) { p = null; }
    if (!p || typeof p !== 'object') return {};
    if (['3600', '86400', '604800'].includes(p.period)) {
        state.period = p.period;
    } else if (p.period === 'custom' && p.custom && Number.isInteger(p.custom.start) &&
               Number.isInteger(p.custom.end) && p.custom.start < p.custom.end) {
        state.period = 'custom';
        state.custom = { start: p.custom.start, end: p.custom.end };
    }
    if (Array.isArray(p.filters)) {
        state.filters = p.filters.filter((f) => f && DIM_LABELS[f.dim] &&
            (f.op === '=' || f.op === '!=') && typeof f.value === 'string');
    }
    if (CHARTS[p.chartMetric]) state.chartMetric = p.chartMetric;
    if (p.granularity === 'auto' || Object.hasOwn(GRAN_SIZE, p.granularity)) {
        state.granularity = p.granularity;
    }
    if (DIM_LABELS[p.dim]) state.dim = p.dim;
    if (p.view === 'sessions') state.view = 'sessions';
    return p;
}

// toLocalInput renders epoch seconds for a datetime-local input.
function toLocalInput(sec) {
    const d = new Date(sec * 1000);
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T` +
           `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/* ---------- sign-in and customer ---------- */

function showSignin(message) {
    $('signin-view').hidden = false;
    $('app-view').hidden = true;
    $('controls').hidden = true;
    const err = $('signin-error');
    err.textContent = message || '';
    err.hidden = !message;
    $('username').focus();
}

function signOut(message) {
    clearTimeout(state.refreshTimer);
    setAutoRefresh(false);
    state.auth = null;
    state.planlevel = null;
    state.errors.clear();
    setError('', null);
    try { sessionStorage.removeItem(STORE_AUTH); } catch (e) { /* ignore */ }
    showSignin(message);
}

async function onSignin(ev) {
    ev.preventDefault();
    const user = $('username').value.trim();
    const pass = $('password').value;
    const err = $('signin-error');
    if (!user || !pass) {
        err.textContent = 'Enter your username and password.';
        err.hidden = false;
        return;
    }
    const btn = $('signin-button');
    btn.disabled = true;
    btn.textContent = 'Signing in…';
    err.hidden = true;
    try {
        const body = await tokenRequest({ grant_type: 'password', username: user, password: pass,
                                          client_id: CLIENT_ID });
        acceptTokens(body);
        $('password').value = '';
        enterApp();
    } catch (e) {
        let msg = e.message;
        if (e.status === 429 && e.retryAfter) msg += ` (retry in ${e.retryAfter} s)`;
        err.textContent = msg;
        err.hidden = false;
    } finally {
        btn.disabled = false;
        btn.textContent = 'Sign in';
    }
}

function enterApp() {
    const prefs = loadPrefs();
    const claims = state.auth.claims || {};
    const customers = Array.isArray(claims.customers)
        ? claims.customers.filter((c) => typeof c === 'string') : [];
    const roles = (claims.realm_access && claims.realm_access.roles) || [];
    const admin = Array.isArray(roles) && roles.includes('admin');
    $('signin-view').hidden = true;
    $('app-view').hidden = false;
    $('controls').hidden = false;
    $('user').textContent = claims.preferred_username || claims.sub || '';
    $('user').title = admin ? 'administrator' : `may read: ${customers.join(', ')}`;

    // Admins may read every customer, but the token does not list them: they
    // type the id.
    const sel = $('customer');
    const input = $('customer-input');
    sel.replaceChildren(...customers.map((c) => h('option', { value: c }, c)));
    sel.hidden = customers.length === 0;
    input.hidden = !(admin && customers.length === 0);
    $('period').value = state.period;
    $('custom-period').hidden = state.period !== 'custom';
    if (state.custom) {
        $('custom-start').value = toLocalInput(state.custom.start);
        $('custom-end').value = toLocalInput(state.custom.end);
    }
    $('chart-metric').value = state.chartMetric;
    $('granularity').value = state.granularity;
    $('dimension').value = state.dim;
    renderFilters();
    showView(state.view);
    setAutoRefresh(Boolean(prefs.auto));

    let pick = '';
    if (customers.includes(prefs.customer)) pick = prefs.customer;
    else if (customers.length) pick = customers[0];
    else if (admin && typeof prefs.customer === 'string') pick = prefs.customer;
    if (pick) {
        sel.value = pick;
        input.value = pick;
        selectCustomer(pick, pick === prefs.customer);
    } else if (!admin) {
        setError('Account',
                 new Error('Your account may not read any customer. Ask an administrator.'));
    } else {
        input.focus();
    }
}

// selectCustomer switches to customer `id`: its plan level first (the legacy
// endpoints need it), then the data. Filters are the old customer's values,
// so they go, unless the page is coming back to the customer it showed.
async function selectCustomer(id, keepFilters) {
    const changed = id !== state.customer;
    state.customer = id;
    state.planlevel = null;
    if (changed && !keepFilters) {
        state.filters = [];
        renderFilters();
    }
    state.bdOffset = 0;
    state.ssOffset = 0;
    savePrefs();
    try {
        const body = await api(`/planLevelByCustId/${encodeURIComponent(id)}`, []);
        if (state.customer !== id) return;
        state.planlevel = body.planlevel;
        setError('Customer', null);
        loadCurrent();
    } catch (e) {
        if (state.customer !== id) return;
        clearPanels();
        setError('Customer', e);
    }
}

// clearPanels empties every panel, so that nothing of the previous customer
// stays on screen when the new one cannot be read.
function clearPanels() {
    for (const t of TILES) {
        const el = $(`tile-${t.key}`);
        el.querySelector('.tile-value').textContent = '—';
        el.querySelector('.tile-sub').textContent = t.sub ? ' ' : '';
        el.dataset.level = '';
    }
    state.lastChart = null;
    chartMessage('');
    for (const id of ['breakdown', 'breakdown-pager', 'sessions', 'sessions-pager']) {
        $(id).replaceChildren();
    }
}

function onPeriod() {
    const v = $('period').value;
    if (v === 'custom') {
        const p = periodRange();
        if (!$('custom-start').value) $('custom-start').value = toLocalInput(p.start);
        if (!$('custom-end').value) $('custom-end').value = toLocalInput(p.end);
        $('custom-period').hidden = false;
        $('custom-start').focus();
        return;
    }
    $('custom-period').hidden = true;
    state.period = v;
    state.bdOffset = 0;
    state.ssOffset = 0;
    savePrefs();
    loadCurrent();
}

function onCustomPeriod(ev) {
    ev.preventDefault();
    const start = Math.floor(new Date($('custom-start').value).getTime() / 1000);
    const end = Math.floor(new Date($('custom-end').value).getTime() / 1000);
    if (!isFinite(start) || !isFinite(end)) {
        setError('Period', new Error('Enter both a start and an end.'));
        return;
    }
    if (start >= end) {
        setError('Period', new Error('The start must come before the end.'));
        return;
    }
    if (end - start > MAX_SPAN_S) {
        setError('Period', new Error('A period may span at most 400 days.'));
        return;
    }
    setError('Period', null);
    state.period = 'custom';
    state.custom = { start, end };
    state.bdOffset = 0;
    state.ssOffset = 0;
    savePrefs();
    loadCurrent();
}

function restoreSession() {
    let auth = null;
    try {
        auth = JSON.parse(sessionStorage.getItem(STORE_AUTH) || 'null');
    } catch (e) {
        auth = null;
    }
    if (!auth || typeof auth.access !== 'string') {
        showSignin('');
        return;
    }
    const now = Date.now();
    state.auth = auth;
    if (auth.accessExp - now > 10000) {
        scheduleRefresh();
        enterApp();
    } else if (auth.refresh && auth.refreshExp > now) {
        refreshTokens().then(enterApp, () => signOut(''));
    } else {
        signOut('');
    }
}

function init() {
    buildTiles();
    $('signin-form').addEventListener('submit', onSignin);
    $('signout').addEventListener('click', () => signOut(''));
    $('customer').addEventListener('change', (e) => selectCustomer(e.target.value));
    $('customer-input').addEventListener('change', (e) => {
        const v = e.target.value.trim();
        if (v) selectCustomer(v);
    });
    $('period').addEventListener('change', onPeriod);
    $('custom-period').addEventListener('submit', onCustomPeriod);
    $('autorefresh').addEventListener('change', (e) => setAutoRefresh(e.target.checked));
    $('refresh').addEventListener('click', loadCurrent);
    $('tab-overview').addEventListener('click', () => showView('overview'));
    $('tab-sessions').addEventListener('click', () => showView('sessions'));
    $('tab-overview').addEventListener('keydown', (e) => {
        if (e.key === 'ArrowRight') { $('tab-sessions').focus(); showView('sessions'); }
    });
    $('tab-sessions').addEventListener('keydown', (e) => {
        if (e.key === 'ArrowLeft') { $('tab-overview').focus(); showView('overview'); }
    });
    $('clear-filters').addEventListener('click', () => {
        state.filters = [];
        filtersChanged();
    });
    $('chart-metric').addEventListener('change', (e) => {
        state.chartMetric = e.target.value;
        savePrefs();
        if (state.planlevel !== null) loadChart();
    });
    $('granularity').addEventListener('change', (e) => {
        state.granularity = e.target.value;
        savePrefs();
        if (state.planlevel !== null) loadChart();
    });
    $('dimension').addEventListener('change', (e) => {
        state.dim = e.target.value;
        state.bdOffset = 0;
        // The sort column may not exist for the new dimension.
        if (state.bdSort.by in DIM_LABELS) state.bdSort = { by: 'attempts', dir: 'DESC' };
        savePrefs();
        if (state.planlevel !== null) loadBreakdown();
    });
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(renderChart, 150);
    });
    restoreSession();
}

document.addEventListener('DOMContentLoaded', init);
