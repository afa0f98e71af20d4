/**
 * An HTTPS server for our own daemons' metrics (the failover manager, the backup agent): TLS 1.3
 * only, with a certificate and key from files that `foobar up` renews in place. A renewal is
 * taken for the next connections without a restart (the daemon's state and work go on).
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/** How often the files are looked at for a renewal. */
const WATCH_INTERVAL_MS = 5000;

export function httpsServer(files: TlsFiles, handler: http.RequestListener): https.Server {
  const load = (): https.ServerOptions => ({
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
    minVersion: 'TLSv1.3',
  });
  const server = https.createServer(load(), handler);
  // Written one after the other: each change tries the pair, and a pair that does not match yet
  // (the certificate renewed, its key not written yet) leaves the current one in place.
  const reload = (): void => {
    try {
      server.setSecureContext(load());
    } catch {
      // The next change (the key's) loads the matching pair.
    }
  };
  for (const file of [files.cert, files.key])
    watchFile(file, { interval: WATCH_INTERVAL_MS }, reload);
  server.on('close', () => {
    for (const file of [files.cert, files.key]) unwatchFile(file, reload);
  });
  return server;
}
