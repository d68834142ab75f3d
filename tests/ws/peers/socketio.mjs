// Bench peer: Socket.IO 4.8 with its Redis adapter, for
// tests/ws/bench-fanout.mjs. Clients (socket.io-client, WebSocket transport
// only) emit `join` {room, name} and get `joined`, then `message` events
// whose argument is the published payload (a string). Messages come from one
// PSUBSCRIBE on `<prefix>*` (ioredis) and are broadcast to the room with
// io.local.to(room): the receiving half of a multi-node Socket.IO broadcast
// (the adapter's own PUBLISH is the sending node's cost, not measured here).
// The adapter is attached all the same, so rooms and broadcasts go through
// it as in a real deployment. Socket.IO has no per-client bound: none here.
//
//   node socketio.mjs --redis URL --port 0 --prefix chat:room:

import http from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import Redis from 'ioredis';
import { Server } from 'socket.io';
import { lagProbe, listening, parseArgs, statsHandler } from './common.mjs';

const o = parseArgs(process.argv);
const lag = lagProbe();
const c = { connections: 0, published: 0, redis_messages: 0, unrouted: 0, frames_sent: 0, dropped: 0 };
const pub = new Redis(o.redis);
const adapterSub = pub.duplicate();
const sub = new Redis(o.redis);
let subscribed = false;
const joined = new Map();  // room -> count of sockets

const stats = statsHandler(() => ({
  ...c, clients: io.engine.clientsCount, rooms: joined.size, slow_clients: 0, slow_disconnects: 0, writeables: 0,
  socket_full: 0, redis: { subscribed, max_turn_messages: 0 },
}), lag);
const server = http.createServer((req, res) => {
  if (!req.url.startsWith('/socket.io/') && !stats(req, res)) res.writeHead(404).end();
});
const io = new Server(server, {
  transports: ['websocket'], serveClient: false, perMessageDeflate: false, adapter: createAdapter(pub, adapterSub),
});

io.on('connection', (socket) => {
  c.connections++;
  socket.data.name = `guest-${c.connections}`;
  socket.on('join', (m) => {
    if (!m || typeof m.room !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(m.room)) return;
    if (typeof m.name === 'string' && m.name) socket.data.name = m.name.slice(0, 32);
    socket.join(m.room);
    socket.data.room = m.room;
    joined.set(m.room, (joined.get(m.room) ?? 0) + 1);
    socket.emit('joined', { room: m.room, name: socket.data.name });
  });
  socket.on('say', (text) => {
    if (!socket.data.room || typeof text !== 'string') return;
    c.published++;
    pub.publish(o.prefix + socket.data.room,
      JSON.stringify({ type: 'message', room: socket.data.room, from: socket.data.name, text, ts: Date.now() }));
  });
  socket.on('disconnect', () => {
    const r = socket.data.room;
    if (r && joined.has(r) && joined.set(r, joined.get(r) - 1).get(r) === 0) joined.delete(r);
  });
});

sub.on('ready', () => { subscribed = true; });
sub.on('end', () => { subscribed = false; });
sub.psubscribe(`${o.prefix}*`);
sub.on('pmessage', (pattern, channel, payload) => {
  c.redis_messages++;
  const room = channel.slice(o.prefix.length);
  const n = joined.get(room);
  if (!n) {
    c.unrouted++;
    return;
  }
  let obj = null;
  try { obj = JSON.parse(payload); } catch { /* forwarded as it is: Socket.IO frames any string */ }
  void obj;
  io.local.to(room).emit('message', payload);
  c.frames_sent += n;
});

server.listen(o.port, '127.0.0.1', () => listening(server));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    io.close();
    pub.disconnect();
    adapterSub.disconnect();
    sub.disconnect();
    process.exit(0);
  });
}
