/*
 * klive-server dashboard: polls the diagnostics API (entries every 2 s, errors and info every
 * 5 s), keeps bitrate/fps history in the page (last 5 minutes), previews each live entry muted
 * with hls.js (served by the daemon) from the HLS origin, and kills connections on request.
 *
 * The admin token comes from `?token=` (then removed from the address bar) or the login form,
 * and is kept in sessionStorage (this tab only); every request sends it as a Bearer header.
 * Strings from the server (stream names, encoder names, messages) are set as text, never HTML.
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'klive.adminToken';
  var ENTRIES_EVERY_MS = 2000;
  var SLOW_EVERY_MS = 5000;
  var HISTORY_MS = 5 * 60 * 1000;

  var state = {
    token: null,
    origin: null,
    cards: new Map(),
    history: new Map(),
    timers: [],
    lastEntries: null,
  };

  // ---------------------------------------------------------------------------------------------
  // Token

  function takeToken() {
    var url = new URL(location.href);
    var fromUrl = url.searchParams.get('token');
    if (fromUrl) {
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
      url.searchParams.delete('token');
      history.replaceState(null, '', url.pathname + (url.search === '?' ? '' : url.search) + url.hash);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function showLogin(message) {
    stopPolling();
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('main').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('token').focus();
  }

  function showMain() {
    $('login').hidden = true;
    $('main').hidden = false;
    $('logout').hidden = false;
    startPolling();
  }

  // ---------------------------------------------------------------------------------------------
  // API

  function api(path, options) {
    var init = Object.assign({ headers: { Authorization: 'Bearer ' + state.token }, cache: 'no-store' }, options || {});
    return fetch(path, init).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (body) {
        if (res.status === 401) {
          showLogin('The token was refused.');
          throw new Error('unauthorized');
        }
        if (!res.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + res.status));
        return body;
      });
    });
  }

  function startPolling() {
    stopPolling();
    pollEntries();
    pollSlow();
    state.timers.push(setInterval(pollEntries, ENTRIES_EVERY_MS));
    state.timers.push(setInterval(pollSlow, SLOW_EVERY_MS));
  }

  function stopPolling() {
    state.timers.forEach(clearInterval);
    state.timers = [];
  }

  function pollEntries() {
    if (!state.token) return;
    api('/diagnostics/entries').then(renderEntries, reportFailure);
  }

  function pollSlow() {
    if (!state.token) return;
    api('/diagnostics/info').then(renderInfo, reportFailure);
    api('/diagnostics/errors').then(renderErrors, reportFailure);
  }

  function reportFailure(err) {
    if (err && err.message === 'unauthorized') return;
    $('status').textContent = 'Last request failed: ' + (err && err.message ? err.message : String(err)) + ' (' + new Date().toLocaleTimeString() + ')';
  }

  function killConnection(clientId, button) {
    button.disabled = true;
    api('/diagnostics/killConnection?clientId=' + encodeURIComponent(clientId), { method: 'POST' }).then(function () {
      button.textContent = 'killed';
      pollEntries();
    }, function (err) {
      button.disabled = false;
      reportFailure(err);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Rendering

  function $(id) { return document.getElementById(id); }

  /** kv([[label, value, wide?], …]): a definition grid; empty values are left out. */
  /** h('div', {class: 'x', dataset: {k: 'v'}}, child, 'text', …) */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'class') el.className = v;
        else if (k === 'dataset') Object.keys(v).forEach(function (d) { el.dataset[d] = v[d]; });
        else if (k === 'text') el.textContent = v;
        else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : v);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === undefined || c === null || c === false) continue;
      el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return el;
  }

  function kv(pairs) {
    var dl = h('dl', { class: 'kv' });
    pairs.forEach(function (p) {
      if (p[1] === undefined || p[1] === null || p[1] === '') return;
      dl.appendChild(h('div', { class: p[2] ? 'wide' : null }, h('dt', { text: p[0] }), h('dd', { text: String(p[1]) })));
    });
    return dl;
  }

  /** Only the unusual case is shown: admitted from Kaltura's last decision while Kaltura was unreachable. */
  function admission(a) {
    if (!a || a.via !== 'stale') return '';
    return a.awaitingKalturaRecheck ? 'from Kaltura’s last decision: Kaltura unreachable, re-check pending' : 'from Kaltura’s last decision, since confirmed';
  }
  function kbps(bps) { return bps === null || bps === undefined ? '–' : bps >= 1e6 ? (bps / 1e6).toFixed(2) + ' Mbit/s' : Math.round(bps / 1000) + ' kbit/s'; }
  function fps(v) { return v === null || v === undefined ? '–' : (Math.round(v * 10) / 10) + ' fps'; }
  function duration(ms) {
    if (ms === undefined || ms === null) return '';
    var s = Math.floor(ms / 1000), hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
    return (hh ? hh + 'h' : '') + (hh || mm ? mm + 'm' : '') + ss + 's';
  }
  function resolution(v) { return v && v.width ? v.width + '×' + v.height : ''; }
  function codec(v, a) {
    var parts = [];
    if (v) parts.push(v.codec + (v.profile ? ' ' + v.profile : '') + (v.level ? ' ' + v.level : ''));
    if (a) parts.push(a.codec + (a.sampleRate ? ' ' + a.sampleRate / 1000 + ' kHz' : '') + (a.channels ? ' ' + a.channels + 'ch' : ''));
    return parts.join(' + ');
  }

  function renderInfo(info) {
    state.origin = { port: info.ports.rtmp, http: info.ports.http };
    var u = info.usage;
    var kaltura = info.kaltura;
    $('server').textContent = info.hostname + ' · v' + info.version + ' · up ' + duration(info.uptimeSeconds * 1000) +
      ' · CPU ' + u.total.cpuPercent + ' % · RSS ' + Math.round(u.total.rssBytes / 1048576) + ' MiB' +
      ' · ' + info.counts.connections + ' connections, ' + info.counts.entries + ' entries' +
      ' · Kaltura ' + (kaltura.lastSuccessAt ? 'ok ' + new Date(kaltura.lastSuccessAt).toLocaleTimeString() : 'no answer yet') +
      (kaltura.lastLatencyMs !== null ? ' (' + Math.round(kaltura.lastLatencyMs) + ' ms)' : '');
  }

  function renderErrors(report) {
    var list = $('errors');
    var items = [];
    report.errors.forEach(function (e) { items.push({ time: e.time, refusal: false, head: e.kind + (e.entryId ? ' · ' + e.entryId : ''), message: e.message }); });
    report.refusals.forEach(function (r) { items.push({ time: r.time, refusal: true, head: 'refused ' + r.stage + ' · ' + r.code + (r.entryId ? ' · ' + r.entryId : '') + ' · ' + r.ip, message: r.message + ' — ' + r.url }); });
    items.sort(function (a, b) { return a.time < b.time ? 1 : -1; });
    items = items.slice(0, 100);
    $('error-count').textContent = String(items.length);
    list.replaceChildren.apply(list, items.map(function (i) {
      return h('li', { class: i.refusal ? 'refusal' : '' },
        h('div', { class: 'meta', text: new Date(i.time).toLocaleString() + ' · ' + i.head }),
        h('div', { text: i.message }));
    }));
    if (items.length === 0) list.appendChild(h('li', { class: 'refusal muted', text: 'Nothing so far.' }));
  }

  function renderEntries(report) {
    state.lastEntries = report;
    if (!state.origin) state.origin = { port: report.origin.port, http: report.origin.httpPort };
    var seen = new Set();
    var now = Date.now();
    report.entries.forEach(function (entry) {
      seen.add(entry.entryId);
      var card = state.cards.get(entry.entryId) || createCard(entry);
      record(entry, now);
      updateCard(card, entry);
    });
    state.cards.forEach(function (card, id) {
      if (!seen.has(id)) {
        destroyPreview(card);
        card.root.remove();
        state.cards.delete(id);
        state.history.delete(id);
      }
    });
    $('entry-count').textContent = String(report.entries.length);
    $('no-entries').hidden = report.entries.length > 0;
    $('status').textContent = 'Updated ' + new Date().toLocaleTimeString();
  }

  function createCard(entry) {
    var card = {
      entryId: entry.entryId,
      title: h('h3'),
      sub: h('span', { class: 'muted' }),
      video: h('video', { muted: true, autoplay: true, playsinline: true, dataset: { preview: entry.entryId } }),
      overlay: h('span', { class: 'overlay', text: 'waiting for segments…' }),
      canvas: h('canvas', { class: 'spark', width: 600, height: 120 }),
      legend: h('div', { class: 'legend' }),
      inputs: h('div'),
      renditions: h('div', { class: 'table-wrap' }),
      outputs: h('div'),
      hls: null,
      previewUrl: null,
      retryAt: 0,
    };
    card.video.muted = true;
    card.root = h('article', { class: 'entry', dataset: { entry: entry.entryId } },
      h('div', { class: 'entry-head' }, card.title, card.sub),
      h('div', { class: 'entry-body' },
        h('div', { class: 'preview' }, card.video, card.overlay),
        h('div', null, card.canvas, card.legend)),
      h('h4', { text: 'Inputs' }), card.inputs,
      h('h4', { text: 'Renditions' }), card.renditions,
      card.outputs);
    $('entries').appendChild(card.root);
    state.cards.set(entry.entryId, card);
    return card;
  }

  function updateCard(card, entry) {
    card.title.textContent = entry.entryId + (entry.name ? ' · ' + entry.name : '');
    card.sub.textContent = (entry.partnerId !== undefined ? 'partner ' + entry.partnerId + ' · ' : '') + entry.players + ' RTMP players' +
      (entry.dvr ? ' · DVR ' + (entry.dvr.enabled ? 'on' : 'off') : '');

    card.inputs.replaceChildren.apply(card.inputs, entry.inputs.length === 0 ? [h('p', { class: 'muted', text: 'No encoder connected.' })] : entry.inputs.map(function (i) {
      var existing = card.inputs.querySelector('[data-kill="' + i.clientId + '"]');
      var kill = existing && existing.classList.contains('armed') ? existing : h('button', { class: 'kill', type: 'button', dataset: { kill: String(i.clientId) }, text: 'Kill' });
      if (kill !== existing) {
        kill.addEventListener('click', function () {
          if (kill.classList.contains('armed')) { killConnection(i.clientId, kill); return; }
          kill.classList.add('armed');
          kill.textContent = 'Confirm kill';
          setTimeout(function () { if (!kill.disabled) { kill.classList.remove('armed'); kill.textContent = 'Kill'; } }, 4000);
        });
      }
      return h('div', { class: 'item', dataset: { input: String(i.clientId) } },
        h('div', { class: 'item-head' }, h('strong', { text: i.streamName + (i.serverIndex === 1 ? ' (backup)' : '') }), kill),
        kv([
          ['client', i.clientId], ['protocol', (i.protocol || 'rtmp').toUpperCase()], ['from', i.remoteAddress], ['encoder', i.encoder, true], ['codecs', codec(i.video, i.audio), true],
          ['size', resolution(i.video)], ['fps', fps(i.fps)], ['bitrate', kbps(i.bitrateBps)], ['RTT', i.rttMs !== undefined ? i.rttMs + ' ms' : ''],
          ['SRT loss', i.srt ? i.srt.lossPercent + ' %' : ''], ['SRT retransmitted', i.srt ? i.srt.retransmitPercent + ' %' : ''],
          ['dropped', i.droppedFrames], ['uptime', duration(i.uptimeMs)], ['admitted', admission(i.admission), true],
        ]));
    }));

    var rows = entry.outputs.renditions.map(function (r) {
      return h('tr', null,
        h('td', { text: r.streamName }), h('td', { text: r.kind }),
        h('td', { class: r.live ? 'state-live' : 'state-down', text: r.live ? 'live' : 'down' }),
        h('td', { text: resolution(r.video) || (r.audio ? 'audio' : '') }), h('td', { text: kbps(r.bitrateBps) }), h('td', { text: fps(r.fps) }),
        h('td', { text: r.hls ? r.hls.segmentsWritten + ' seg' : '–' }));
    });
    card.renditions.replaceChildren(h('table', null,
      h('thead', null, h('tr', null, ['stream', 'kind', 'state', 'size', 'bitrate', 'fps', 'HLS'].map(function (t) { return h('th', { text: t }); }).reduce(append, document.createDocumentFragment()))),
      rows.reduce(append, h('tbody'))));

    var rec = entry.outputs.recording;
    var parts = [h('h4', { text: 'Transcoder, recording, playback' })];
    entry.outputs.transcoders.forEach(function (t) {
      parts.push(kv([['ffmpeg pid', t.pid], ['state', t.state], ['fps', fps(t.fps)], ['speed', t.speed !== null ? t.speed + '×' : '–'], ['restarts', t.restarts], ['uptime', duration(t.uptimeMs)]]));
    });
    if (entry.outputs.transcoders.length === 0) parts.push(kv([['transcoder', 'none (passthrough)', true]]));
    parts.push(kv([['recording', rec.state + (rec.enabled ? '' : rec.enabled === false ? ' (not enabled for the entry)' : ''), true], ['delivered', rec.delivered], ['pending', rec.pending], ['failed', rec.failed], ['last error', rec.lastError, true]]));
    var k = entry.kaltura || { liveStatus: 'not registered' };
    var regError = k.lastRegistrationError ? k.lastRegistrationError.code + ': ' + k.lastRegistrationError.message + ' (' + new Date(k.lastRegistrationError.at).toLocaleTimeString() + ')' : '';
    parts.push(kv([['Kaltura live status', k.liveStatus, true], ['last registration error', regError, true]]));
    var master = previewUrl(entry);
    parts.push(kv([['master playlist', master, true]]));
    card.outputs.replaceChildren.apply(card.outputs, parts);

    drawSpark(card, state.history.get(entry.entryId) || []);
    ensurePreview(card, entry, master);
  }

  function append(parent, child) { parent.appendChild(child); return parent; }

  // ---------------------------------------------------------------------------------------------
  // History and sparkline

  function record(entry, now) {
    var points = state.history.get(entry.entryId);
    if (!points) { points = []; state.history.set(entry.entryId, points); }
    var bitrate = 0, f = null;
    entry.inputs.forEach(function (i) { bitrate += i.bitrateBps || 0; if (f === null) f = i.fps; });
    points.push({ t: now, bitrate: bitrate, fps: f || 0 });
    while (points.length && points[0].t < now - HISTORY_MS) points.shift();
  }

  function drawSpark(card, points) {
    var c = card.canvas, ctx = c.getContext('2d');
    var w = c.width, hgt = c.height, pad = 4;
    ctx.clearRect(0, 0, w, hgt);
    var last = points[points.length - 1];
    card.legend.replaceChildren(
      h('span', { class: 'bitrate', text: 'bitrate ' + (last ? kbps(last.bitrate) : '–') }),
      h('span', { class: 'fps', text: 'fps ' + (last ? fps(last.fps) : '–') }),
      h('span', { class: 'muted', text: 'last ' + Math.round(HISTORY_MS / 60000) + ' min' }));
    if (points.length < 2) return;
    // The x axis spans the history kept so far, up to HISTORY_MS.
    var t1 = points[points.length - 1].t;
    var t0 = Math.max(points[0].t, t1 - HISTORY_MS);
    var span = Math.max(1, t1 - t0);
    // Different head-room per line, so equal shapes (a steady stream) do not hide each other.
    function line(key, color, headroom) {
      var max = (Math.max.apply(null, points.map(function (p) { return p[key]; })) || 1) * headroom;
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      points.forEach(function (p, i) {
        var x = pad + ((p.t - t0) / span) * (w - 2 * pad);
        var y = hgt - pad - (p[key] / max) * (hgt - 2 * pad);
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    }
    line('bitrate', '#4da3ff', 1.15);
    line('fps', '#ffb84d', 1.6);
  }

  // ---------------------------------------------------------------------------------------------
  // Preview

  function previewUrl(entry) {
    var origin = state.origin || { port: location.port };
    var override = sessionStorage.getItem('klive.origin');
    var base = override || (location.protocol + '//' + location.hostname + ':' + (origin.http || origin.port));
    return base + entry.outputs.playback.master;
  }

  function ensurePreview(card, entry, url) {
    var ready = entry.outputs.renditions.some(function (r) { return r.hls && r.hls.segmentsWritten > 0 && r.video; });
    if (!ready) { card.overlay.textContent = 'waiting for segments…'; return; }
    if (card.hls && card.previewUrl === url) {
      card.overlay.textContent = 'preview ' + card.video.currentTime.toFixed(1) + ' s' + (card.video.videoWidth ? ' · ' + card.video.videoWidth + '×' + card.video.videoHeight : '');
      return;
    }
    if (Date.now() < card.retryAt) return;
    destroyPreview(card);
    if (!window.Hls || !Hls.isSupported()) {
      if (card.video.canPlayType('application/vnd.apple.mpegurl')) { card.video.src = url; card.previewUrl = url; card.hls = {}; }
      else card.overlay.textContent = 'no HLS support in this browser';
      return;
    }
    var hls = new Hls({ enableWorker: true, capLevelToPlayerSize: true, startLevel: 0, liveSyncDurationCount: 2, maxBufferLength: 12, backBufferLength: 10 });
    hls.on(Hls.Events.ERROR, function (_e, data) {
      if (!data.fatal) return;
      card.overlay.textContent = 'preview error: ' + data.details + ' (retrying)';
      destroyPreview(card);
      card.retryAt = Date.now() + 4000;
    });
    hls.on(Hls.Events.MANIFEST_PARSED, function () {
      var p = card.video.play();
      if (p && p.catch) p.catch(function () { /* autoplay refused: muted previews normally play */ });
    });
    hls.loadSource(url);
    hls.attachMedia(card.video);
    card.hls = hls;
    card.previewUrl = url;
    card.overlay.textContent = 'loading preview…';
  }

  function destroyPreview(card) {
    if (card.hls && card.hls.destroy) card.hls.destroy();
    card.hls = null;
    card.previewUrl = null;
  }

  // ---------------------------------------------------------------------------------------------
  // Start

  $('login').addEventListener('submit', function (e) {
    e.preventDefault();
    var token = $('token').value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    state.token = token;
    $('token').value = '';
    showMain();
  });
  $('logout').addEventListener('click', function () { showLogin(''); });

  /** For tests and the curious: the last entries report and each preview's state. */
  window.__dashboard = {
    entries: function () { return state.lastEntries; },
    preview: function (entryId) {
      var card = state.cards.get(entryId);
      if (!card) return null;
      return { url: card.previewUrl, currentTime: card.video.currentTime, paused: card.video.paused, readyState: card.video.readyState, videoWidth: card.video.videoWidth };
    },
  };

  state.token = takeToken();
  if (state.token) showMain(); else showLogin('');
})();
