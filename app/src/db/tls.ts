/**
 * TLS to a database server, verified by name: the connection goes to the server's address (no
 * resolver is needed, or trusted, on the way to the database), while the certificate is checked
 * against the lab's CA and the server's name. mysql2 takes the name it verifies from `host`, so
 * the socket to the address is opened here.
 */
import net from 'node:net';
import type { ConnectionOptions, SslOptions } from 'mysql2';

/**
 * What mysql2 verifies a server with. Keep one per CA and reuse it: mysql2 caches the parsed CA
 * (its secure context) and the TLS sessions to resume by this object, so a new one per
 * connection would parse the CA and do a full handshake every time.
 */
export function verifyingSsl(ca: string): SslOptions {
  return { ca, rejectUnauthorized: true, verifyIdentity: true };
}

export interface TlsServer {
  /** The name its certificate must carry. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

export function verifiedTls(
  server: TlsServer,
  ssl: SslOptions,
  options: { keepAlive?: boolean } = {},
): Pick<ConnectionOptions, 'host' | 'port' | 'ssl' | 'stream'> {
  return {
    host: server.name,
    port: server.port,
    ssl,
    stream: (): net.Socket => {
      const socket = net.connect(server.port, server.address);
      // As mysql2 does for the sockets it opens itself.
      socket.setNoDelay(true);
      if (options.keepAlive === true) socket.on('connect', () => socket.setKeepAlive(true));
      return socket;
    },
  };
}
