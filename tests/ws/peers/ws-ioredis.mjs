// Bench peer: the fan-out a Node user would write with `ws` and `ioredis`,
// speaking ws_fanout's protocol (join / say / message frames, JSON) for
// tests/ws/bench-fanout.mjs. One PSUBSCRIBE on `<prefix>*`; each message is
// checked once to be a JSON object (ws_fanout does the same) and written to
// every client of its room straight from the Redis callback. A client with
// more than --queue-bytes buffered loses the frame (counted as dropped).
//
//   node ws-ioredis.mjs --redis URL --port 0 --prefix chat:room:

import http from 'node:http';
import Redis from 'ioredis';
import { WebSocketServer } from 'ws';
import { lagProbe, listening, parseArgs, statsHandler } from './common.mjs';

const o = parseArgs(process.argv);
const lag = lagProbe();
const rooms = new Map();  // room -> Set of ws
const c = { connections: 0, published: 0, redis_messages: 0, unrouted: 0, frames_sent: 0, dropped: 0 };
const pub = new Redis(o.redis, { lazyConnect: false });
const sub = new Redis(o.redis);
let subscribed = false;

const stats = statsHandler(() => ({
  ...c, clients: wss.clients.size, rooms: rooms.size, slow_clients: 0, slow_disconnects: 0, writeables: 0,
  socket_full: 0, redis: { subscribed, max_turn_messages: 0 },
}), lag);
const server = http.createServer((req, res) => {
  if (!stats(req, res)) res.writeHead(404).end();
});
const wss = new WebSocketServer({
  server, perMessageDeflate: false, handleProtocols: (protocols) => (protocols.has('uvredis-chat') ? 'uvredis-chat' : false),
});

function leave(ws) {
  const set = rooms.get(ws.room);
  if (!set) return;
  set.delete(ws);
  if (set.size === 0) rooms.delete(ws.room);
}

wss.on('connection', (ws) => {
  c.connections++;
  ws.name = `guest-${c.connections}`;
  ws.room = '';
  ws.on('message', (data, isBinary) => {
    let m;
    try { m = isBinary ? null : JSON.parse(data); } catch { m = null; }
    if (!m || typeof m !== 'object') return ws.send(JSON.stringify({ type: 'error', error: 'not a JSON object' }));
    if (m.type === 'join' && typeof m.room === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(m.room)) {
      leave(ws);
      if (typeof m.name === 'string' && m.name) ws.name = m.name.slice(0, 32);
      ws.room = m.room;
      if (!rooms.has(ws.room)) rooms.set(ws.room, new Set());
      rooms.get(ws.room).add(ws);
      ws.send(JSON.stringify({ type: 'joined', room: ws.room, name: ws.name }));
    } else if (m.type === 'say' && ws.room && typeof m.text === 'string') {
      c.published++;
      pub.publish(o.prefix + ws.room, JSON.stringify({ type: 'message', room: ws.room, from: ws.name, text: m.text, ts: Date.now() }));
    } else {
      ws.send(JSON.stringify({ type: 'error', error: 'unknown message type' }));
    }
  });
  ws.on('close', () => leave(ws));
});

sub.on('ready', () => { subscribed = true; });
sub.on('end', () => { subscribed = false; });
sub.psubscribe(`${o.prefix}*`);
sub.on('pmessageBuffer', (pattern, channel, payload) => {
  c.redis_messages++;
  const set = rooms.get(channel.toString('latin1').slice(o.prefix.length));
  if (!set) {
    c.unrouted++;
    return;
  }
  let frame = payload;
  let obj = null;
  try { obj = JSON.parse(payload); } catch { /* wrapped below */ }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
    frame = Buffer.from(JSON.stringify({ type: 'message', room: channel.toString().slice(o.prefix.length), from: 'redis', text: payload.toString() }));
  }
  for (const ws of set) {
    if (ws.bufferedAmount > o.queueBytes) {
      c.dropped++;
      continue;
    }
    ws.send(frame, { binary: false });
    c.frames_sent++;
  }
});

server.listen(o.port, '127.0.0.1', () => listening(server));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    server.close();
    pub.disconnect();
    sub.disconnect();
    process.exit(0);
  });
}
