/** HAProxy command lines. */
import type { Command } from '../drivers/driver.ts';

export const haproxy = {
  /** Zero-warning mode (-dW): a warning fails the check as an error would. */
  check: (config: string): Command => ({ argv: ['haproxy', '-c', '-q', '-dW', '-f', config] }),
  /**
   * Master-worker in the foreground: foobar detaches it and keeps its PID. A reload (SIGUSR2 to the
   * master) starts new workers on the same listeners; old ones finish their connections.
   */
  start: (config: string, pidFile: string): Command => ({
    argv: ['haproxy', '-W', '-f', config, '-p', pidFile],
  }),
  /**
   * drain: no new requests, current ones finish; maint: no request at all, not even a persistent
   * one, and no health checks; ready: back in rotation (health checks decide).
   */
  setServerState: (
    socket: string,
    backend: string,
    server: string,
    state: 'drain' | 'maint' | 'ready',
  ): Command => haproxy.runtime(socket, `set server ${backend}/${server} state ${state}`),
  /** Cuts every session open on the server: no answer from it reaches a client any more. */
  shutdownSessions: (socket: string, backend: string, server: string): Command =>
    haproxy.runtime(socket, `shutdown sessions server ${backend}/${server}`),
  /** An entry of a map file loaded by the config, in memory only (a reload reads the file again). */
  addMapEntry: (socket: string, map: string, key: string, value: string): Command =>
    haproxy.runtime(socket, `add map ${map} ${key} ${value}`),
  deleteMapEntry: (socket: string, map: string, key: string): Command =>
    haproxy.runtime(socket, `del map ${map} ${key}`),
  /**
   * A new certificate and key (PEM) for a loaded certificate file, in a transaction that
   * `commitCertificate` applies: new handshakes use it, open connections keep theirs. The PEM
   * goes on standard input, as the runtime API's multi-line payload (ended by an empty line).
   */
  setCertificate: (socket: string, file: string, pem: string): Command =>
    haproxy.runtime(socket, `set ssl cert ${file} <<\n${pem.trimEnd()}\n`),
  commitCertificate: (socket: string, file: string): Command =>
    haproxy.runtime(socket, `commit ssl cert ${file}`),
  /** A runtime API command through its Unix socket. */
  runtime: (socket: string, line: string): Command => ({
    argv: ['socat', '-t', '2', 'stdio', `unix-connect:${socket}`],
    input: `${line}\n`,
    timeoutMs: 5000,
    readOnly: line.startsWith('show '),
  }),
};
