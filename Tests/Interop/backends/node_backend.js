// A WebSocket backend built on the third-party Node `ws` library (Debian's node-ws, not written
// by us). Same paths and stdout events as py_backend.py:
//   /echo    echo every message (text as text, binary as binary)
//   /report  first message: JSON of the upgrade request as received, then echo
//   /cmd     "close CODE REASON", "ping DATA", "frag A B C", else echo
//   /refuse  handshake refused with HTTP 403
// Run with NODE_PATH=/usr/share/nodejs (where Debian installs node modules).
'use strict';

const { WebSocketServer } = require('ws');

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const port = process.argv.length > 2 ? Number(process.argv[2]) : 0;

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  maxPayload: 64 * 1024 * 1024,
  handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false),
  verifyClient: (info, cb) => {
    if (info.req.url.split('?')[0] === '/refuse') cb(false, 403, 'refused by backend');
    else cb(true);
  },
});

wss.on('listening', () => emit({ event: 'listening', port: wss.address().port }));

wss.on('connection', (ws, req) => {
  const path = req.url.split('?')[0];
  if (path === '/report') {
    const headers = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    ws.send(JSON.stringify({
      request_line: `${req.method} ${req.url} HTTP/${req.httpVersion}`,
      path: req.url,
      headers,
      subprotocol: ws.protocol || null,
    }));
  }
  ws.on('message', (data, isBinary) => {
    if (path === '/cmd' && !isBinary) {
      const text = data.toString();
      const space = text.indexOf(' ');
      const verb = space < 0 ? text : text.slice(0, space);
      const rest = space < 0 ? '' : text.slice(space + 1);
      if (verb === 'close') {
        const sp = rest.indexOf(' ');
        const code = Number(sp < 0 ? rest : rest.slice(0, sp));
        ws.close(code, sp < 0 ? '' : rest.slice(sp + 1));
        return;
      }
      if (verb === 'ping') {
        ws.ping(Buffer.from(rest));
        return;
      }
      if (verb === 'frag') {
        const parts = rest.split(' ');
        parts.forEach((p, i) => ws.send(p, { binary: false, fin: i === parts.length - 1 }));
        return;
      }
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('pong', (data) => {
    if (path === '/cmd') ws.send('pong-received ' + data.toString());
  });
  ws.on('error', () => {});
  const testId = req.headers['x-test-id'] || null;
  ws.on('close', (code, reason) => emit({ event: 'closed', path, test_id: testId, code, reason: reason.toString() }));
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
