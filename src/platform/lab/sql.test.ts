import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { renderAdminClientConfig } from '../../render/mariadb/index.ts';
import { clientOptions, greets } from './sql.ts';

it("reads the admin's login from the client file the mariadb client reads", () => {
  const text = renderAdminClientConfig('foobar_admin', 's3cr=t; x', '/run/db-01/mysqld.sock');
  assert.deepEqual(Object.fromEntries(clientOptions(text)), {
    user: 'foobar_admin',
    password: 's3cr=t; x',
    socket: '/run/db-01/mysqld.sock',
  });
  // Only the [client] group's.
  assert.deepEqual(
    Object.fromEntries(clientOptions('[mysqld]\nsocket = /other\n[client]\nuser = a\n')),
    { user: 'a' },
  );
});

it('pings a server by its greeting on the socket: answered, silent, closed, or nobody there', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-greets-'));
  const servers: net.Server[] = [];
  const connections: net.Socket[] = [];
  const listen = async (name: string, onConnection: (s: net.Socket) => void): Promise<string> => {
    const socket = path.join(dir, name);
    const server = net.createServer((connection) => {
      connections.push(connection);
      onConnection(connection);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    return socket;
  };
  try {
    const greeting = await listen('greets', (s) => s.write(Buffer.from([0x0a, 0x31, 0x30])));
    const silent = await listen('silent', () => undefined);
    const closes = await listen('closes', (s) => s.end());
    assert.equal(await greets(greeting), undefined);
    assert.match((await greets(silent, 200)) ?? '', /no greeting .* within 200 ms/);
    assert.match((await greets(closes)) ?? '', /closed without a greeting/);
    assert.match((await greets(path.join(dir, 'none'))) ?? '', /cannot connect .*ENOENT/);
  } finally {
    for (const connection of connections) connection.destroy();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    await fs.rm(dir, { recursive: true, force: true });
  }
});
