// examples/ws_fanout end to end: a real headless Chromium (Debian's, driven
// by playwright-core), WebSocket clients, a private redis-server.
// Run through tests/ws/run.sh (it installs and builds what is needed).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import {
  Resp, fanoutBin, joined, sleep, startFanout, startRedis, stats, stopProcess, tempDir, waitExit, waitStats, wsClient,
} from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const QUEUE = 64;  // per-client queue limit of the server under test
const QUEUE_BYTES = 2 * 1024 * 1024;  // ... in bytes (64 flood frames fit: the frame bound acts first)
const RESUMABLE = 'vault';  // a room on a resumable channel

let redis;
let server;
const clients = [];
const track = (c) => (clients.push(c), c);

before(async () => {
  redis = await startRedis();
  server = await startFanout(redis.url,
    ['--queue', String(QUEUE), '--queue-bytes', String(QUEUE_BYTES), '--resumable', RESUMABLE]);
});

after(async () => {
  for (const c of clients) c.close();
  await stopProcess(server?.child);
  await stopProcess(redis?.child);
  if (redis) fs.rmSync(redis.dir, { recursive: true, force: true });
});

/** Publishes numbered 16 KiB messages in pipelined batches, each batch
 * once `fast` has received the previous one (a client that keeps up with
 * the publish rate), until done(stats) or `max` messages. */
async function flood(srv, pub, room, fast, { batch, max = 3000, size = 16 * 1024, done }) {
  const pad = 'x'.repeat(size);
  let seq = 0;
  let worstStatsMs = 0;
  let st;
  while (seq < max) {
    const cmds = [];
    for (let i = 0; i < batch; i++, seq++) {
      cmds.push(['PUBLISH', `chat:room:${room}`, JSON.stringify({ type: 'message', room, from: 'flood', seq, pad })]);
    }
    await pub.pipeline(cmds);
    const last = seq - 1;
    await fast.waitFor((f) => f.seq === last, 10000, `message ${last} on the fast client`);
    const t0 = Date.now();
    st = await stats(srv);
    worstStatsMs = Math.max(worstStatsMs, Date.now() - t0);
    if (done(st)) break;
  }
  return { sent: seq, stats: st, worstStatsMs };
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

describe('ws_fanout', () => {
  test('serves the page and /stats on one port, on loopback only', async () => {
    const page = await fetch(`${server.base}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /uvredis fan-out chat/);
    const st = await stats(server);
    assert.equal(st.redis.subscribed, true);
    assert.equal(st.queue_limit, QUEUE);
    assert.equal(st.queue_bytes, QUEUE_BYTES);
    assert.equal(st.slow_policy, 'drop-oldest');
  });

  test('two browser pages in one room see each other\'s messages through Redis', async () => {
    const room = `r${Date.now() % 100000}`;
    // A plain Redis subscriber proves the messages really went through Redis.
    const spy = await Resp.connect(redis.port);
    const seen = [];
    spy.onMessage = (channel, payload) => seen.push({ channel, ...JSON.parse(payload) });
    await spy.command('SUBSCRIBE', `chat:room:${room}`);

    const profile = tempDir('chromium');
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS,
    });
    try {
      const [alice, bob] = [await context.newPage(), await context.newPage()];
      await alice.goto(`${server.base}/?room=${room}&name=alice`);
      await bob.goto(`${server.base}/?room=${room}&name=bob`);
      for (const [p, who] of [[alice, 'alice'], [bob, 'bob']]) {
        await p.waitForFunction((t) => document.getElementById('status').textContent === t,
          `joined ${room} as ${who}`, { timeout: 5000 });
      }
      await alice.fill('#text', 'hello from alice');
      await alice.press('#text', 'Enter');
      await bob.fill('#text', 'hello from bob');
      await bob.click('#send');

      const sees = (p, line) => p.waitForFunction(
        (l) => [...document.querySelectorAll('#log li.msg')].some((li) => li.textContent === l), line,
        { timeout: 5000 });
      await sees(bob, 'alice:hello from alice');
      await sees(alice, 'bob:hello from bob');
      // Everyone's own message comes back through Redis too.
      await sees(alice, 'alice:hello from alice');
      await sees(bob, 'bob:hello from bob');

      const texts = seen.map((m) => `${m.from}:${m.text}`).sort();
      assert.deepEqual(texts, ['alice:hello from alice', 'bob:hello from bob']);
      assert.ok(seen.every((m) => m.type === 'message' && m.room === room && m.channel === `chat:room:${room}`));
    } finally {
      await context.close();
      spy.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  });

  test('rooms are separate; a plain payload published to Redis is wrapped', async () => {
    const a = track(await joined(server.port, 'iso-a', 'ann'));
    const b = track(await joined(server.port, 'iso-b', 'ben'));
    const pub = await Resp.connect(redis.port);
    try {
      assert.equal(await pub.command('PUBLISH', 'chat:room:iso-a', 'plain text, not JSON'), 1);
      const m = await a.waitFor((f) => f.type === 'message', 3000, 'wrapped message');
      assert.deepEqual(m, { type: 'message', room: 'iso-a', from: 'redis', text: 'plain text, not JSON' });
      b.send({ type: 'say', text: 'only for iso-b' });
      await b.waitFor((f) => f.type === 'message' && f.text === 'only for iso-b', 3000, 'own message');
      await sleep(100);
      assert.equal(a.frames.filter((f) => f.text === 'only for iso-b').length, 0);
      assert.equal(b.frames.filter((f) => f.text === 'plain text, not JSON').length, 0);
    } finally {
      pub.close();
    }
  });

  test('bad requests get an error frame and the connection stays usable', async () => {
    const c = track(await wsClient(server.port));
    c.send('not json');
    await c.waitFor((f) => f.type === 'error' && /JSON/.test(f.error), 3000, 'error for non-JSON');
    c.send({ type: 'say', text: 'too early' });
    await c.waitFor((f) => f.type === 'error' && /join/.test(f.error), 3000, 'error for say before join');
    c.send({ type: 'join', room: 'bad room*' });
    await c.waitFor((f) => f.type === 'error' && /room/.test(f.error), 3000, 'error for a bad room');
    c.send({ type: 'join', room: 'ok-room', name: 'carl' });
    await c.waitFor((f) => f.type === 'joined' && f.name === 'carl', 3000, 'joined after errors');
    c.send({ type: 'say', text: 'y'.repeat(2001) });
    await c.waitFor((f) => f.type === 'error' && /text/.test(f.error), 3000, 'error for a long text');
  });

  test('a message larger than a client queue may hold is not forwarded, and counted', async () => {
    const c = track(await joined(server.port, 'big', 'bea'));
    const pub = await Resp.connect(redis.port);
    try {
      const before = (await stats(server)).oversize;
      const huge = JSON.stringify({ type: 'message', room: 'big', from: 'huge', text: 'z'.repeat(QUEUE_BYTES) });
      await pub.command('PUBLISH', 'chat:room:big', huge);
      await pub.command('PUBLISH', 'chat:room:big', JSON.stringify({ type: 'message', room: 'big', from: 'small', text: 'ok' }));
      await c.waitFor((f) => f.from === 'small', 5000, 'the small message');
      assert.equal(c.frames.filter((f) => f.from === 'huge').length, 0);
      assert.equal((await stats(server)).oversize, before + 1);
    } finally {
      pub.close();
    }
  });

  test('a client that never reads loses its oldest frames, counted; others get everything', async (t) => {
    const room = 'flood';
    const fast = track(await joined(server.port, room, 'fast'));
    const slow = track(await joined(server.port, room, 'slow'));
    slow.ws._socket.pause();  // stops reading: the kernel buffers fill up, then our queue
    const pub = await Resp.connect(redis.port);
    const before = await stats(server);
    const rssBefore = rssKiB(server.child.pid);
    let extra = 0;
    const r = await flood(server, pub, room, fast, {
      batch: 16,
      // Keep going a little after the first drop, so drops are well counted.
      done: (s) => s.dropped > before.dropped && ++extra > 3,
    });
    try {
      assert.ok(r.stats.dropped > before.dropped, `no drops after ${r.sent} messages: ${JSON.stringify(r.stats)}`);
      assert.equal(r.stats.slow_clients - before.slow_clients, 1);
      assert.ok(r.stats.deepest_queue <= QUEUE, `queue over its bound: ${r.stats.deepest_queue}`);
      assert.ok(r.stats.deepest_queue_bytes <= QUEUE_BYTES, `queue over its bound: ${r.stats.deepest_queue_bytes}`);
      // The loop kept answering while it was flooded.
      assert.ok(r.worstStatsMs < 2000, `/stats took ${r.worstStatsMs} ms`);
      assert.ok(r.stats.loop_lag_ms.max < 1000, `loop lag ${r.stats.loop_lag_ms.max} ms`);
      const rssGrowth = rssKiB(server.child.pid) - rssBefore;
      assert.ok(rssGrowth < 64 * 1024, `server grew by ${rssGrowth} KiB`);
      t.diagnostic(`server RSS grew by ${rssGrowth} KiB during the flood`);

      pub.command('PUBLISH', `chat:room:${room}`, JSON.stringify({ type: 'message', room, from: 'flood', end: true }));
      await fast.waitFor((f) => f.end, 10000, 'end marker (fast)');
      const seqs = fast.frames.filter((f) => f.from === 'flood' && !f.end).map((f) => f.seq);
      assert.equal(seqs.length, r.sent, 'the fast client lost messages');
      assert.ok(seqs.every((s, i) => s === i), 'the fast client got messages out of order');
      assert.equal(fast.frames.filter((f) => f.type === 'dropped').length, 0);

      // Once it reads again, the slow client is told how many it lost, and
      // what it got is in order, gap included.
      slow.ws._socket.resume();
      await slow.waitFor((f) => f.end, 20000, 'end marker (slow)');
      const dropped = (await stats(server)).dropped - before.dropped;  // the end marker may have pushed one out
      t.diagnostic(`${r.sent} messages of 16 KiB; the slow client lost ${dropped}; /stats worst ${r.worstStatsMs} ms`);
      const notices = slow.frames.filter((f) => f.type === 'dropped');
      assert.equal(notices.reduce((n, f) => n + f.count, 0), dropped);
      const got = slow.frames.filter((f) => f.from === 'flood' && !f.end).map((f) => f.seq);
      assert.equal(got.length + dropped, r.sent);
      assert.ok(got.every((s, i) => i === 0 || s > got[i - 1]), 'slow client: out of order');
    } finally {
      pub.close();
    }
  });

  test('--policy disconnect closes a client that never reads (byte bound)', async () => {
    // 128 KiB hold 7 flood frames: here the byte bound acts, not the frame bound.
    const srv2 = await startFanout(redis.url, ['--queue', '1000', '--queue-bytes', '131072', '--policy', 'disconnect']);
    const pub = await Resp.connect(redis.port);
    try {
      const fast = track(await joined(srv2.port, 'kick', 'fast'));
      const slow = track(await joined(srv2.port, 'kick', 'slow'));
      slow.ws._socket.pause();
      const r = await flood(srv2, pub, 'kick', fast, { batch: 4, done: (s) => s.slow_disconnects > 0 });
      assert.equal(r.stats.slow_disconnects, 1, JSON.stringify(r.stats));
      assert.equal(r.stats.dropped, 0);
      await waitStats(srv2, (s) => s.clients === 1, 5000);
      slow.ws._socket.resume();
      const deadline = Date.now() + 5000;
      while (!slow.closed && Date.now() < deadline) await sleep(20);
      assert.ok(slow.closed, 'the slow client was not closed');
      assert.ok(!fast.closed);
      assert.equal(fast.frames.filter((f) => f.from === 'flood').length, r.sent);
      const st = await stopProcess(srv2.child);
      assert.deepEqual(st, { code: 0, signal: null }, srv2.stderr);
    } finally {
      pub.close();
      await stopProcess(srv2.child);
    }
  });

  test('a Redis restart is reported to browsers as a possible gap, then chat resumes', async () => {
    const c = track(await joined(server.port, 'restart', 'rita'));
    await stopProcess(redis.child);
    await c.waitFor((f) => f.type === 'status' && f.redis === 'down', 5000, 'redis down status');
    redis = await startRedis(redis.port, redis.dir);
    await c.waitFor((f) => f.type === 'status' && f.redis === 'up' && f.gap === true, 10000, 'redis up status');
    const st = await stats(server);
    assert.equal(st.redis.outages, 1);
    assert.equal(st.redis.resubscribes, 1);
    // The publishing client reconnects on its own; retry until it is back.
    const deadline = Date.now() + 10000;
    for (let i = 0; ; i++) {
      c.send({ type: 'say', text: `after restart ${i}` });
      try {
        await c.waitFor((f) => f.type === 'message' && f.text === `after restart ${i}`, 500, 'message after restart');
        break;
      } catch (e) {
        if (Date.now() > deadline) throw e;
      }
    }
  });

  test('a resumable room: messages carry stream ids; a gap in the server\'s subscription is filled', async () => {
    const room = RESUMABLE;
    const c = track(await joined(server.port, room, 'rosa'));
    assert.equal(c.frames.find((f) => f.type === 'joined').resumable, true);
    c.send({ type: 'say', text: 'before the gap' });
    const first = await c.waitFor((f) => f.type === 'message' && f.text === 'before the gap', 3000, 'first message');
    assert.match(first.id, /^\d+-\d+$/);

    // The resumable subscriber's own connection (SUBSCRIBE, not the plain
    // PSUBSCRIBE one) is killed, and in the same transaction a message is
    // added to the room's stream: it can only arrive through the catch-up.
    const admin = await Resp.connect(redis.port);
    const before = await stats(server);
    try {
      const list = await admin.command('CLIENT', 'LIST');
      const line = list.split('\n').find((l) => / name=ws-fanout /.test(l) && / sub=1 /.test(l) && / psub=0 /.test(l));
      assert.ok(line, `no resumable subscriber in:\n${list}`);
      const id = /^id=(\d+) /.exec(line)[1];
      const stream = `chat:room:${room}:history`;
      const [last] = await admin.command('XREVRANGE', stream, '+', '-', 'COUNT', '1');
      const n = Number(last[1][last[1].indexOf('n') + 1]);
      const missed = JSON.stringify({ type: 'message', room, from: 'gap', text: 'while away' });
      const replies = await admin.pipeline([['MULTI'], ['CLIENT', 'KILL', 'ID', id],
        ['XADD', stream, '*', 'n', String(n + 1), 'payload', missed], ['EXEC']]);
      const [killed, gapId] = replies[3];
      assert.equal(killed, 1);

      await c.waitFor((f) => f.type === 'status' && f.room === room && f.redis === 'down', 5000, 'down notice');
      const got = await c.waitFor((f) => f.type === 'message' && f.from === 'gap', 10000, 'the missed message');
      assert.equal(got.id, gapId);
      assert.ok(c.frames.some((f) => f.type === 'status' && f.room === room && f.redis === 'up' && f.gap === false));
      c.send({ type: 'say', text: 'after the gap' });
      await c.waitFor((f) => f.type === 'message' && f.text === 'after the gap', 5000, 'live again');
      const msgs = c.frames.filter((f) => f.type === 'message');
      assert.deepEqual(msgs.map((f) => f.text), ['before the gap', 'while away', 'after the gap']);
      assert.equal(c.frames.filter((f) => f.type === 'lost').length, 0);
      const st = await stats(server);
      assert.equal(st.recovered - before.recovered, 1);
      assert.equal(st.resumable[room].duplicates, 0);
      // The plain subscriber was not touched.
      assert.equal(st.redis.outages, before.redis.outages);
    } finally {
      admin.close();
    }
  });

  test('rejoining a resumable room with the last id seen delivers what was missed, once, in order', async () => {
    const room = RESUMABLE;
    const a = track(await joined(server.port, room, 'ada'));
    a.send({ type: 'say', text: 'r1' });
    const r1 = await a.waitFor((f) => f.type === 'message' && f.text === 'r1', 3000, 'r1');
    a.send({ type: 'say', text: 'r2' });
    a.send({ type: 'say', text: 'r3' });
    await a.waitFor((f) => f.type === 'message' && f.text === 'r3', 3000, 'r3');

    // A client that saw r1 and was away for r2 and r3.
    const b = track(await wsClient(server.port));
    b.send({ type: 'join', room, name: 'bo', last_id: r1.id });
    await b.waitFor((f) => f.type === 'message' && f.text === 'r3', 5000, 'r3 read back');
    a.send({ type: 'say', text: 'r4' });
    await b.waitFor((f) => f.type === 'message' && f.text === 'r4', 5000, 'r4 live');
    const got = b.frames.filter((f) => f.type === 'message');
    assert.deepEqual(got.map((f) => f.text), ['r2', 'r3', 'r4']);
    assert.ok(got.every((f, i) => i === 0 || f.id > got[i - 1].id || f.id.length > got[i - 1].id.length));
    assert.equal(b.frames.filter((f) => f.type === 'lost').length, 0);

    // An id older than anything the stream holds: told that history was lost.
    const c = track(await wsClient(server.port));
    c.send({ type: 'join', room, name: 'cy', last_id: '1-0' });
    await c.waitFor((f) => f.type === 'lost' && f.room === room && f.count === null, 5000, 'lost notice');
    await c.waitFor((f) => f.type === 'message' && f.text === 'r4', 5000, 'what the stream holds');
    const st = await stats(server);
    assert.ok(st.resumes >= 2 && st.resumed_frames >= 3, JSON.stringify(st));

    // Not for plain rooms, nor with a malformed id.
    c.send({ type: 'join', room: 'plain-room', last_id: r1.id });
    await c.waitFor((f) => f.type === 'error' && /last_id/.test(f.error), 3000, 'error for a plain room');
  });

  test('a port in use is an error: exit status 1, no listening line', async () => {
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
    const { port } = blocker.address();
    try {
      const child = spawn(fanoutBin, ['--redis', redis.url, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { err += d; });
      const st = await waitExit(child, 5000);
      if (st === null) await stopProcess(child);
      assert.deepEqual(st, { code: 1, signal: null }, err);
      assert.equal(out, '');
      assert.match(err, /in use/);
    } finally {
      blocker.close();
    }
  });

  test('SIGTERM shuts down cleanly: exit code 0, every handle closed', async () => {
    for (const c of clients) c.close();
    clients.length = 0;
    // Keep a connection open: shutdown must close it too.
    track(await joined(server.port, 'bye', 'last'));
    process.kill(server.child.pid, 'SIGTERM');
    const st = await waitExit(server.child, 5000);
    assert.deepEqual(st, { code: 0, signal: null }, server.stderr);
    assert.doesNotMatch(server.stderr, /uv_loop_close|handle still open|runtime error|Sanitizer/);
    assert.match(server.stderr, /signal 15: shutting down/);
  });
});

process.on('unhandledRejection', (e) => {
  console.error('unhandled rejection:', e);
});
