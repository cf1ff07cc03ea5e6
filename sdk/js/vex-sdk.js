/* vex-sdk.js - the vex player SDK for the web: reports what happens while an
 * HTML5 <video> (or any player, through the manual API) plays, as the native
 * events of SPEC section 2, batched and retried, to a vex collector.
 *
 * No dependencies, no build step. The file is both a classic script (it sets
 * window.VexSDK) and valid module code (`import './vex-sdk.js'` has the same
 * effect); vex-sdk.mjs re-exports it for `import VexSDK from`. It therefore
 * has no import/export of its own and does not use the top-level `this`.
 *
 * Usage and semantics: docs/sdk.md. */
(function (root) {
    'use strict';

    var VERSION = '1.0.0';

    // The dimensions of SPEC section 2 a player may send (`ip` is left to the
    // server, which takes the client address).
    var DIMS = ['cdn', 'platform', 'player', 'os', 'browser', 'device', 'country', 'asset',
                'title', 'isp', 'subscriberid', 'subscribertag'];
    var DIM_MAX_BYTES = 256;
    var SID_MAX_BYTES = 128;

    var DEFAULTS = {
        heartbeatMs: 10000,
        batchMs: 2000,
        maxBatch: 50,
        maxQueue: 1000,
        retryMinMs: 1000,
        retryMaxMs: 30000,
        startOn: 'attach',
        endOnHidden: false,
    };

    // Browsers refuse a keepalive request once the keepalive bodies in flight
    // exceed 64 KiB, and sendBeacon has the same budget: stay well below it.
    var KEEPALIVE_MAX_BYTES = 60000;

    // What each event does to the session state (SPEC section 3), mirrored
    // here so that the element handlers only report what changes something.
    var NEXT = {
        playing: { starting: 'playing', buffering: 'playing', seeking: 'playing',
                   paused: 'playing' },
        buffering: { playing: 'buffering' },
        seek: { playing: 'seeking', buffering: 'seeking', paused: 'seeking' },
        pause: { playing: 'paused', buffering: 'paused', seeking: 'paused' },
    };

    /* ---------- small helpers ---------- */

    function utf8Len(s) {
        var n = 0;
        for (var i = 0; i < s.length; i++) {
            var c = s.charCodeAt(i);
            if (c < 0x80) n += 1;
            else if (c < 0x800) n += 2;
            else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) { n += 4; i++; }
            else n += 3;
        }
        return n;
    }

    // truncBytes cuts s to at most max UTF-8 bytes without splitting a
    // character: the server rejects a whole batch over one long dimension.
    function truncBytes(s, max) {
        if (utf8Len(s) <= max) return s;
        var n = 0;
        var out = '';
        for (var ch of s) {
            var l = utf8Len(ch);
            if (n + l > max) break;
            n += l;
            out += ch;
        }
        return out;
    }

    function uuid() {
        var c = root.crypto;
        // randomUUID exists only in secure contexts (https, localhost).
        if (c && typeof c.randomUUID === 'function') return c.randomUUID();
        var b = new Uint8Array(16);
        if (c && typeof c.getRandomValues === 'function') c.getRandomValues(b);
        else for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        var h = Array.prototype.map.call(b, function (x) {
            return (x + 0x100).toString(16).slice(1);
        }).join('');
        return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' +
            h.slice(16, 20) + '-' + h.slice(20);
    }

    function warn() {
        if (root.console && root.console.warn)
            root.console.warn.apply(root.console, ['[vex]'].concat([].slice.call(arguments)));
    }

    function checkKbps(kbps) {
        if (typeof kbps !== 'number' || !isFinite(kbps) || kbps < 0)
            throw new TypeError('vex: kbps must be a finite number >= 0, got ' + kbps);
        return kbps;
    }

    function checkSid(sid) {
        if (typeof sid !== 'string' || sid === '' || utf8Len(sid) > SID_MAX_BYTES)
            throw new TypeError('vex: sid must be a string of 1..128 bytes');
        return sid;
    }

    // cleanDims validates a {dimension: value} object: unknown names are
    // refused (a typo would silently lose the dimension), values become
    // strings of at most 256 bytes, and null or '' mean "absent".
    function cleanDims(dims) {
        var out = {};
        if (dims === undefined || dims === null) return out;
        if (typeof dims !== 'object') throw new TypeError('vex: dims must be an object');
        Object.keys(dims).forEach(function (k) {
            if (DIMS.indexOf(k) < 0)
                throw new TypeError('vex: unknown dimension "' + k + '" (known: ' +
                                    DIMS.join(', ') + ')');
            var v = dims[k];
            out[k] = v === undefined || v === null ? '' : truncBytes(String(v), DIM_MAX_BYTES);
        });
        return out;
    }

    function num(o, name, min) {
        var v = o[name] === undefined ? DEFAULTS[name] : o[name];
        if (typeof v !== 'number' || !isFinite(v) || v < min)
            throw new TypeError('vex: option ' + name + ' must be a number >= ' + min);
        return v;
    }

    function options(o) {
        o = o || {};
        if (typeof o.endpoint !== 'string' || o.endpoint === '')
            throw new TypeError('vex: option endpoint (the URL of /v1/events) is required');
        if (typeof o.key !== 'string' || o.key === '')
            throw new TypeError('vex: option key (the ingest key) is required');
        if (o.live !== undefined && typeof o.live !== 'boolean')
            throw new TypeError('vex: option live must be a boolean');
        var startOn = o.startOn === undefined ? DEFAULTS.startOn : o.startOn;
        if (startOn !== 'attach' && startOn !== 'play')
            throw new TypeError('vex: option startOn must be "attach" or "play"');
        if (o.onEvent !== undefined && typeof o.onEvent !== 'function')
            throw new TypeError('vex: option onEvent must be a function');
        var sep = o.endpoint.indexOf('?') < 0 ? '?' : '&';
        return {
            endpoint: o.endpoint,
            key: o.key,
            // sendBeacon cannot set headers: the key travels in the URL.
            beaconUrl: o.endpoint + sep + 'key=' + encodeURIComponent(o.key),
            sid: o.sid === undefined ? undefined : checkSid(o.sid),
            dims: cleanDims(o.dims),
            live: o.live,
            kbps: o.kbps === undefined || o.kbps === null ? null : checkKbps(o.kbps),
            heartbeatMs: num(o, 'heartbeatMs', 1),
            batchMs: num(o, 'batchMs', 0),
            maxBatch: Math.floor(num(o, 'maxBatch', 1)),
            maxQueue: Math.floor(num(o, 'maxQueue', 1)),
            retryMinMs: num(o, 'retryMinMs', 1),
            retryMaxMs: num(o, 'retryMaxMs', 1),
            startOn: startOn,
            endOnHidden: !!o.endOnHidden,
            onEvent: o.onEvent,
        };
    }

    /* ---------- the tracker ---------- */

    function Tracker(el, opts) {
        if (el && typeof el.addEventListener !== 'function')
            throw new TypeError('vex: track() needs a media element, an EventTarget or null');
        this._o = options(opts);
        this._el = el || null;
        this._sid = null;
        this._seq = 0;
        this._state = 'idle'; // no session yet; else a state of SPEC section 3
        this._dims = this._o.dims;
        this._fresh = {};     // dims set after the session's start, for the next event
        this._kbps = this._o.kbps;
        this._src = '';
        this._destroyed = false;
        this._queue = [];
        this._inflight = null;
        this._urgent = false;
        this._batchTimer = null;
        this._retryTimer = null;
        this._retries = 0;
        this._hbTimer = null;
        this._waiters = [];
        this._overflowWarned = false;
        this._hiding = false; // the page is going away: the beacon sends, not fetch
        this._unlisten = [];
        this._nextSid = this._o.sid;

        var self = this;
        var on = function (target, type, fn) {
            var h = function (e) {
                try { fn.call(self, e); } catch (err) { warn('handler for', type, 'failed:', err); }
            };
            target.addEventListener(type, h);
            self._unlisten.push(function () { target.removeEventListener(type, h); });
        };
        if (root.addEventListener) {
            on(root, 'pagehide', this._onPageHide);
        }
        if (root.document && root.document.addEventListener) {
            on(root.document, 'visibilitychange', this._onVisibility);
        }
        if (this._el) {
            var M = Tracker.prototype;
            on(this._el, 'loadstart', M._onLoadStart);
            on(this._el, 'play', M._onPlay);
            on(this._el, 'playing', M._onPlaying);
            on(this._el, 'waiting', M._onWaiting);
            on(this._el, 'stalled', M._onStalled);
            on(this._el, 'seeking', M._onSeeking);
            on(this._el, 'seeked', M._onSeeked);
            on(this._el, 'pause', M._onPause);
            on(this._el, 'ended', M._onEnded);
            on(this._el, 'error', M._onError);
            this._attach();
        }
    }

    Object.defineProperty(Tracker.prototype, 'sid', {
        get: function () { return this._sid; },
    });
    // The session state as the server will see it once everything is sent:
    // idle (no session), starting, playing, buffering, seeking, paused, ended.
    Object.defineProperty(Tracker.prototype, 'state', {
        get: function () { return this._state; },
    });
    // Events not yet acknowledged by the server (queued or in flight).
    Object.defineProperty(Tracker.prototype, 'pending', {
        get: function () {
            return this._queue.length + (this._inflight ? this._inflight.events.length : 0);
        },
    });

    /* ----- sessions and events ----- */

    Tracker.prototype._active = function () {
        return this._state !== 'idle' && this._state !== 'ended';
    };

    // _begin opens a new session with its `start` event, which carries every
    // dimension, `live` and the bitrate when known: the server takes each of
    // them from the lowest-seq event that has it.
    Tracker.prototype._begin = function () {
        if (this._destroyed) return false;
        this._sid = this._nextSid || uuid();
        this._nextSid = undefined;
        this._seq = 0;
        this._fresh = {};
        this._src = this._el ? String(this._el.currentSrc || this._el.src || '') : '';
        var ev = { type: 'start' };
        var dims = this._dims;
        Object.keys(dims).forEach(function (k) { if (dims[k] !== '') ev[k] = dims[k]; });
        if (this._o.live !== undefined) ev.live = this._o.live;
        if (this._kbps !== null) ev.kbps = this._kbps;
        this._state = 'starting';
        this._push(ev);
        var self = this;
        this._hbTimer = setInterval(function () {
            if (self._active()) self._emit('heartbeat');
        }, this._o.heartbeatMs);
        return true;
    };

    // _emit adds one event to the current session (starting it first when
    // there is none) and moves the mirrored state. Returns false when the
    // session is over or the tracker destroyed.
    Tracker.prototype._emit = function (type, fields) {
        if (this._destroyed || this._state === 'ended') return false;
        if (this._state === 'idle') this._begin();
        var ev = { type: type };
        var fresh = this._fresh;
        Object.keys(fresh).forEach(function (k) { ev[k] = fresh[k]; });
        this._fresh = {};
        if (fields) Object.keys(fields).forEach(function (k) { ev[k] = fields[k]; });
        var next = NEXT[type] && NEXT[type][this._state];
        if (next) this._state = next;
        if (type === 'end' || (type === 'error' && ev.fatal !== false)) this._finish();
        this._push(ev);
        if (this._state === 'ended' && !this._hiding) {
            this._urgent = true;
            this._pump();
        }
        return true;
    };

    Tracker.prototype._finish = function () {
        this._state = 'ended';
        if (this._hbTimer !== null) clearInterval(this._hbTimer);
        this._hbTimer = null;
    };

    Tracker.prototype._push = function (ev) {
        ev.sid = this._sid;
        ev.seq = this._seq++;
        ev.ts = Date.now();
        if (this._o.onEvent) {
            try {
                this._o.onEvent(Object.assign({}, ev));
            } catch (e) {
                warn('onEvent failed:', e);
            }
        }
        this._queue.push(ev);
        if (this._queue.length > this._o.maxQueue) {
            // The collector has been unreachable for long: heartbeats only
            // keep a session open, so they go first; then the newest event.
            this._queue = this._queue.filter(function (e) { return e.type !== 'heartbeat'; });
            if (this._queue.length > this._o.maxQueue) this._queue.pop();
            if (!this._overflowWarned) {
                this._overflowWarned = true;
                warn('more than', this._o.maxQueue, 'events wait for the collector; dropping some');
            }
        }
        if (this._hiding) return;
        if (this._queue.length >= this._o.maxBatch) this._pump();
        else this._arm();
    };

    /* ----- the manual API ----- */

    // start opens a session now (a new one when the previous has ended);
    // returns false when a session is already running.
    Tracker.prototype.start = function () {
        if (this._destroyed || this._active()) return false;
        if (this._state === 'ended') this._state = 'idle';
        return this._begin();
    };
    Tracker.prototype.playing = function () { return this._emit('playing'); };
    Tracker.prototype.buffering = function () { return this._emit('buffering'); };
    Tracker.prototype.seek = function () { return this._emit('seek'); };
    Tracker.prototype.pause = function () { return this._emit('pause'); };
    Tracker.prototype.heartbeat = function () { return this._emit('heartbeat'); };
    Tracker.prototype.end = function () {
        // Nothing to end before a session started: ending it would invent an
        // attempt (and an EBVS) the viewer never made.
        if (!this._active()) return false;
        return this._emit('end');
    };

    // setBitrate records the current rendition's bitrate; a change is sent
    // as a `bitrate` event (before the session starts, it goes with `start`).
    Tracker.prototype.setBitrate = function (kbps) {
        checkKbps(kbps);
        if (kbps === this._kbps) return false;
        this._kbps = kbps;
        if (!this._active()) return false;
        return this._emit('bitrate', { kbps: kbps });
    };

    // error reports a player error; fatal (the default, as in SPEC) ends
    // the session as the server does.
    Tracker.prototype.error = function (code, msg, opt) {
        var fatal = !(opt && opt.fatal === false);
        var f = { fatal: fatal };
        if (code !== undefined && code !== null && code !== '') f.code = String(code);
        if (msg !== undefined && msg !== null && msg !== '') f.msg = String(msg);
        return this._emit('error', f);
    };

    // setDims changes dimensions for what follows: later sessions start
    // with them, and the running session's next event carries the changed
    // ones. The server keeps, per dimension, the value of the lowest-seq
    // event that has it, so a dimension already sent at start keeps its
    // first value: give dimensions in track()'s options.
    Tracker.prototype.setDims = function (dims) {
        var d = cleanDims(dims);
        var self = this;
        var merged = Object.assign({}, this._dims, d);
        this._dims = merged;
        if (this._active()) Object.keys(d).forEach(function (k) {
            if (d[k] !== '') self._fresh[k] = d[k];
            else delete self._fresh[k];
        });
    };

    // newSession ends the running session (if any) and opens a new one,
    // with a new sid unless one is given.
    Tracker.prototype.newSession = function (opt) {
        if (this._destroyed) return false;
        var sid = opt && opt.sid !== undefined ? checkSid(opt.sid) : undefined;
        if (this._active()) this._emit('end');
        this._state = 'idle';
        this._nextSid = sid;
        return this._begin();
    };

    // flush sends what is queued now. Its promise resolves once nothing is
    // left to send (retries included), or at once when nothing is pending.
    Tracker.prototype.flush = function () {
        var self = this;
        var p = new Promise(function (resolve) { self._waiters.push(resolve); });
        this._urgent = true;
        if (this._retryTimer !== null) {
            clearTimeout(this._retryTimer);
            this._retryTimer = null;
            this._send(this._inflight);
        } else {
            this._pump();
        }
        return p;
    };

    // destroy ends the running session, stops listening and sends what is
    // left; the promise is flush()'s.
    Tracker.prototype.destroy = function () {
        if (this._active()) this._emit('end');
        this._destroyed = true;
        if (this._hbTimer !== null) clearInterval(this._hbTimer);
        this._hbTimer = null;
        this._unlisten.forEach(function (f) { f(); });
        this._unlisten = [];
        return this.flush();
    };

    /* ----- the media element ----- */

    // _attach starts the session at once unless the element has no source
    // yet (then its loadstart does), or waits for `play` with startOn
    // 'play'; an element already playing reports `playing` too.
    Tracker.prototype._attach = function () {
        var el = this._el;
        if (this._o.startOn !== 'attach' || el.networkState === 0) return;
        this._begin();
        if (el.paused === false && el.ended !== true && el.readyState >= 3) this._emit('playing');
    };

    Tracker.prototype._onLoadStart = function () {
        var src = String(this._el.currentSrc || this._el.src || '');
        if (this._active()) {
            // Another source on the same element is another view.
            if (this._src !== '' && src !== '' && src !== this._src) {
                this._emit('end');
                if (this._o.startOn === 'attach') {
                    this._state = 'idle';
                    this._begin();
                }
            } else {
                this._src = src || this._src;
            }
            return;
        }
        if (this._o.startOn === 'attach' && (this._state === 'idle' || src !== this._src)) {
            this._state = 'idle';
            this._begin();
        }
    };

    // After `ended` (or a fatal error, or end()), playing again is a new view.
    Tracker.prototype._onPlay = function () {
        if (this._state === 'idle' || this._state === 'ended') {
            this._state = 'idle';
            this._begin();
        }
    };

    Tracker.prototype._onPlaying = function () {
        if (this._state === 'playing') return;
        if (this._state === 'ended') this._state = 'idle';
        this._emit('playing');
    };

    Tracker.prototype._onWaiting = function () {
        // Waiting at startup or during a seek is part of that, not a rebuffer.
        if (this._state === 'playing') this._emit('buffering');
    };

    Tracker.prototype._onStalled = function () {
        // `stalled` only says the network is slow; with enough data buffered
        // (readyState >= HAVE_FUTURE_DATA) playback goes on.
        if (this._state === 'playing' && !(this._el.readyState >= 3)) this._emit('buffering');
    };

    Tracker.prototype._onSeeking = function () {
        if (this._active()) this._emit('seek');
    };

    Tracker.prototype._onSeeked = function () {
        // A seek done while paused stays paused, and no `playing` follows:
        // without this the server would count the pause as seek time.
        if (this._state === 'seeking' && this._el.paused === true) this._emit('pause');
    };

    Tracker.prototype._onPause = function () {
        // The element pauses right before `ended`; that is no viewer pause.
        if (this._el.ended === true) return;
        if (this._active()) this._emit('pause');
    };

    Tracker.prototype._onEnded = function () {
        this.end();
    };

    var MEDIA_ERRORS = { 1: 'MEDIA_ERR_ABORTED', 2: 'MEDIA_ERR_NETWORK', 3: 'MEDIA_ERR_DECODE',
                         4: 'MEDIA_ERR_SRC_NOT_SUPPORTED' };

    Tracker.prototype._onError = function () {
        if (this._state === 'ended') return;
        var me = this._el.error;
        var code = me && me.code !== undefined ? String(me.code) : 'unknown';
        var msg = (me && me.message) || MEDIA_ERRORS[code] || 'media error';
        this._emit('error', { fatal: true, code: code, msg: msg });
    };

    /* ----- page lifecycle ----- */

    Tracker.prototype._onPageHide = function () {
        this._hiding = true;
        if (this._active()) this._emit('end');
        this._hiding = false;
        this._beacon();
    };

    Tracker.prototype._onVisibility = function () {
        if (!root.document || root.document.visibilityState !== 'hidden') return;
        // A hidden tab may come back (or keep playing): by default only
        // what is pending goes out; the session goes on.
        this._hiding = true;
        if (this._o.endOnHidden && this._active()) this._emit('end');
        this._hiding = false;
        this._beacon();
    };

    // _beacon hands every unacknowledged event to navigator.sendBeacon, which
    // outlives the page. The body is a string, so it goes as text/plain: a
    // CORS-safelisted type needs no preflight, which a closing page could not
    // wait for; vex reads a JSON array whatever the type. The batch in
    // flight is sent again too (once): the server keeps the first copy of
    // each seq. A page being unloaded fires both pagehide and
    // visibilitychange; the second call then finds nothing new to send.
    Tracker.prototype._beacon = function () {
        if (this._batchTimer !== null) clearTimeout(this._batchTimer);
        this._batchTimer = null;
        var fl = this._inflight && !this._inflight.beaconed ? this._inflight : null;
        if (fl) fl.beaconed = true;
        var events = (fl ? fl.events : []).concat(this._queue);
        this._queue = [];
        var nav = root.navigator;
        var left = [];
        var chunks = this._chunks(events);
        for (var i = 0; i < chunks.length; i++) {
            var ok = false;
            try {
                ok = !!(nav && typeof nav.sendBeacon === 'function' &&
                        nav.sendBeacon(this._o.beaconUrl, JSON.stringify(chunks[i])));
            } catch (e) {
                ok = false;
            }
            if (!ok) {
                // Refused (over the browser's budget): back to the queue for a
                // keepalive fetch, which may still outlive the page.
                for (var j = i; j < chunks.length; j++) left = left.concat(chunks[j]);
                break;
            }
        }
        if (this._inflight) {
            var inflight = {};
            this._inflight.events.forEach(function (e) { inflight[e.sid + '\n' + e.seq] = 1; });
            left = left.filter(function (e) { return !inflight[e.sid + '\n' + e.seq]; });
        }
        if (left.length) {
            this._queue = left;
            this._urgent = true;
            this._pump();
        } else {
            this._settle();
        }
    };

    // _chunks splits events into bodies of at most maxBatch events and
    // KEEPALIVE_MAX_BYTES bytes.
    Tracker.prototype._chunks = function (events) {
        var out = [];
        var cur = [];
        var bytes = 2;
        for (var i = 0; i < events.length; i++) {
            var l = utf8Len(JSON.stringify(events[i])) + 1;
            if (cur.length && (cur.length >= this._o.maxBatch || bytes + l > KEEPALIVE_MAX_BYTES)) {
                out.push(cur);
                cur = [];
                bytes = 2;
            }
            cur.push(events[i]);
            bytes += l;
        }
        if (cur.length) out.push(cur);
        return out;
    };

    /* ----- batching and sending ----- */

    Tracker.prototype._arm = function () {
        if (this._batchTimer !== null || this._inflight || this._retryTimer !== null) return;
        var self = this;
        this._batchTimer = setTimeout(function () {
            self._batchTimer = null;
            self._urgent = true;
            self._pump();
        }, this._o.batchMs);
    };

    // _pump sends the next batch when none is in flight: at once when the
    // queue holds a full batch or a flush was asked for, else after batchMs.
    // One batch at a time keeps the events in order.
    Tracker.prototype._pump = function () {
        if (this._inflight || this._retryTimer !== null) return;
        if (!this._queue.length) {
            this._urgent = false;
            this._settle();
            return;
        }
        if (!this._urgent && this._queue.length < this._o.maxBatch) {
            this._arm();
            return;
        }
        if (this._batchTimer !== null) clearTimeout(this._batchTimer);
        this._batchTimer = null;
        var events = this._queue.slice(0, this._o.maxBatch);
        // The byte budget of keepalive may cut a batch shorter.
        events = this._chunks(events)[0];
        this._queue = this._queue.slice(events.length);
        var body = JSON.stringify(events);
        this._inflight = { events: events, body: body, bytes: utf8Len(body) };
        this._send(this._inflight);
    };

    Tracker.prototype._send = function (b) {
        var self = this;
        var done = function () {
            if (self._inflight !== b) return;
            self._inflight = null;
            self._retries = 0;
            self._pump();
        };
        var f = root.fetch;
        if (typeof f !== 'function') {
            warn('fetch is not available; events are dropped');
            done();
            return;
        }
        var req;
        try {
            req = f.call(root, this._o.endpoint, {
                method: 'POST',
                headers: { 'Content-Type': 'application/json', 'X-Vex-Key': this._o.key },
                body: b.body,
                keepalive: b.bytes <= KEEPALIVE_MAX_BYTES,
                credentials: 'omit',
            });
        } catch (e) {
            req = Promise.reject(e);
        }
        req.then(function (res) {
            if (res.ok) {
                done();
            } else if (res.status === 408 || res.status === 429 || res.status >= 500) {
                self._retry(b, 'HTTP ' + res.status, res.headers && res.headers.get('Retry-After'));
            } else {
                // 400 (an invalid event), 401 (a wrong key), 413: sending the
                // same bytes again cannot succeed.
                return res.text().catch(function () { return ''; }).then(function (t) {
                    warn('the collector refused a batch of', b.events.length, 'events (HTTP ' +
                         res.status + '), dropped:', t);
                    done();
                });
            }
        }, function (e) {
            self._retry(b, 'network error: ' + (e && e.message));
        });
    };

    // _retry sends the same batch again after an exponential backoff with
    // jitter (at least Retry-After when the server gave one): same events,
    // same seq, which the server deduplicates.
    Tracker.prototype._retry = function (b, why, retryAfter) {
        if (this._inflight !== b) return;
        var base = Math.min(this._o.retryMaxMs, this._o.retryMinMs * Math.pow(2, this._retries));
        var delay = base / 2 + Math.random() * base / 2;
        var ra = Number(retryAfter);
        if (retryAfter && isFinite(ra) && ra > 0)
            delay = Math.min(this._o.retryMaxMs, Math.max(delay, ra * 1000));
        this._retries++;
        var self = this;
        this._retryTimer = setTimeout(function () {
            self._retryTimer = null;
            if (self._inflight === b) self._send(b);
        }, delay);
        if (this._retries === 1 || this._retries % 10 === 0)
            warn('sending', b.events.length, 'events failed (' + why + '); retry', this._retries,
                 'in', Math.round(delay), 'ms');
    };

    // _settle resolves flush() promises once nothing waits to be sent.
    Tracker.prototype._settle = function () {
        if (this._queue.length || this._inflight) return;
        var w = this._waiters;
        this._waiters = [];
        w.forEach(function (resolve) { resolve(); });
    };

    /* ---------- the module ---------- */

    var VexSDK = {
        VERSION: VERSION,
        DIMENSIONS: DIMS.slice(),
        // track follows an HTML5 media element (or any EventTarget that
        // dispatches the media events); pass null for the manual API only.
        track: function (el, opts) { return new Tracker(el, opts); },
        Tracker: Tracker,
    };

    root.VexSDK = VexSDK;
    if (typeof module === 'object' && module && module.exports) module.exports = VexSDK;
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : window);
