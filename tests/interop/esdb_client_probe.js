// Drives node-eventstore-client (the EventStoreDB TCP client from npm, pinned in package.json)
// against an esk8s cluster the way an application would: cluster discovery through gossip seeds
// (GET /gossip on each seed, over HTTPS in TLS mode), then a TCP (TLS) connection to the best
// node's advertised external endpoint.
//
// The database's client endpoints are stand-ins owned by this script: one listener per member at
// the address its identity resolves to and the advertised port (a TLS server with a member
// certificate in TLS mode). They accept, record what the client sent first, and hold the
// connection; they do not speak the EventStoreDB protocol, so the client never completes its
// identification and reconnects (re-discovering) after its own timeouts.
//
// Members' identities (stable DNS names) resolve through the map given here: dns.lookup is
// wrapped before the client is loaded, standing in for the cluster DNS of a Kubernetes cluster.
//
// usage: node esdb_client_probe.js CONFIG_JSON
//   {"tls": bool, "seeds": [{"host", "port"}], "resolve": {"name": "ip"},
//    "endpoints": [{"name", "host" (an ip), "port", "cert"?, "key"? (PEM files, TLS mode)}]}
// stdout: one JSON object per line:
//   {"event":"listening"}                                   every endpoint listens
//   {"event":"dial","endpoint":NAME,"tls":bool,"first_command":N|null}
//                                                           the client connected to NAME (TLS:
//                                                           handshake verified); the command
//                                                           byte of its first package
//   {"event":"closed","endpoint":NAME}                      answer to a close command
//   {"event":"log","message":...}                           the client's log and events
// stdin: one JSON object per line: {"cmd":"close","endpoint":NAME} closes that endpoint's
// listener and its connections (its node is gone).
'use strict';

const dns = require('dns');
const fs = require('fs');
const net = require('net');
const readline = require('readline');
const tls = require('tls');

const config = JSON.parse(process.argv[2]);

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Identities resolve to the members' loopback addresses, as cluster DNS would resolve them.
const realLookup = dns.lookup;
dns.lookup = function (host, options, callback) {
  if (typeof options === 'function') {
    callback = options;
    options = {};
  }
  const ip = config.resolve[host];
  if (ip === undefined) return realLookup.call(dns, host, options, callback);
  if (options && options.all) return process.nextTick(callback, null, [{ address: ip, family: 4 }]);
  return process.nextTick(callback, null, ip, 4);
};

const esClient = require('node-eventstore-client');

// Stand-in endpoints.
const endpoints = new Map();  // name -> {server, sockets}
function onClientSocket(name, socket, isTls) {
  const entry = endpoints.get(name);
  entry.sockets.add(socket);
  socket.on('close', () => entry.sockets.delete(socket));
  socket.on('error', () => {});
  let reported = false;
  const report = (firstCommand) => {
    if (reported) return;
    reported = true;
    emit({ event: 'dial', endpoint: name, tls: isTls, first_command: firstCommand });
  };
  // A TcpPackage starts with its 4-byte little-endian length, then the command byte.
  let head = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    head = Buffer.concat([head, chunk]);
    if (head.length >= 5) report(head[4]);
  });
  setTimeout(() => report(null), 2000).unref();
}

let listening = 0;
for (const ep of config.endpoints) {
  const entry = { server: null, sockets: new Set() };
  endpoints.set(ep.name, entry);
  if (config.tls) {
    entry.server = tls.createServer(
      { cert: fs.readFileSync(ep.cert), key: fs.readFileSync(ep.key) },
      (socket) => onClientSocket(ep.name, socket, true));
    entry.server.on('tlsClientError', (err) =>
      emit({ event: 'log', message: `TLS handshake at ${ep.name} failed: ${err.message}` }));
  } else {
    entry.server = net.createServer((socket) => onClientSocket(ep.name, socket, false));
  }
  entry.server.listen(ep.port, ep.host, () => {
    if (++listening === config.endpoints.length) {
      emit({ event: 'listening' });
      startClient();
    }
  });
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line);
  if (cmd.cmd === 'close') {
    const entry = endpoints.get(cmd.endpoint);
    entry.server.close();
    for (const s of entry.sockets) s.destroy();
    emit({ event: 'closed', endpoint: cmd.endpoint });
  }
});
process.stdin.on('end', () => process.exit(0));

function startClient() {
  const log = {
    debug: () => {},
    info: (...args) => emit({ event: 'log', message: args.map(String).join(' ') }),
    error: (...args) => emit({ event: 'log', message: 'error: ' + args.map(String).join(' ') }),
  };
  const settings = {
    log,
    useSslConnection: config.tls,
    // TLS mode verifies every certificate: the esk8s node's for GET /gossip over HTTPS and the
    // endpoint's on the TCP connection (the cluster CA comes in through NODE_EXTRA_CA_CERTS).
    validateServer: config.tls,
    // The stand-ins never answer, so the client reconnects after each heartbeat timeout; a
    // generous limit keeps it trying through the failover.
    maxReconnections: 1000,
    reconnectionDelay: 200,
    maxDiscoverAttempts: 20,
    discoverDelay: 200,
    gossipTimeout: 1000,
  };
  const seeds = config.seeds.map((s) => new esClient.GossipSeed({ host: s.host, port: s.port }));
  const connection = esClient.createConnection(settings, seeds, 'esk8s-interop');
  for (const ev of ['connected', 'disconnected', 'reconnecting', 'closed', 'error']) {
    connection.on(ev, (arg) =>
      emit({ event: 'log', message: `client ${ev}: ${arg instanceof Error ? arg.message : JSON.stringify(arg)}` }));
  }
  connection.connect().catch((err) => emit({ event: 'log', message: 'connect failed: ' + err.message }));
}
