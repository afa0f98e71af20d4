import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { runProcess } from '../../drivers/process.ts';
import { files } from '../../commands/files.ts';
import { askSocket, labDirect } from './direct.ts';

it('checksums a tree as find and sha256sum do on a host: every file but the manifest at its top', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-direct-sums-'));
  try {
    await fs.mkdir(path.join(dir, 'public', 'css'), { recursive: true });
    await fs.writeFile(path.join(dir, 'server.mjs'), 'console.log(1)\n');
    await fs.writeFile(path.join(dir, 'public', 'css', 'site.css'), Buffer.alloc(300_000, 7));
    await fs.writeFile(path.join(dir, 'public', 'empty'), '');
    await fs.writeFile(path.join(dir, 'manifest.json'), '{}');
    await fs.writeFile(path.join(dir, 'public', 'manifest.json'), '{}');
    await fs.symlink('server.mjs', path.join(dir, 'link'));
    const command = files.sha256Tree(dir, 'manifest.json');
    const found = await runProcess(command.argv);
    const expected = Object.fromEntries(
      found.stdout
        .trim()
        .split('\n')
        .map((line) => {
          const [sum = '', file = ''] = line.split('  ');
          return [path.relative(dir, file), sum];
        }),
    );
    // server.mjs, site.css, empty, and the manifest.json below the top (a web app's own).
    assert.equal(Object.keys(expected).length, 4);
    assert.deepEqual(await labDirect.checksumTree(dir), expected);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

it('asks a Unix socket and reads its whole answer; says so when it hangs or nobody listens', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'foobar-direct-ask-'));
  const servers: net.Server[] = [];
  const connections: net.Socket[] = [];
  const listen = async (name: string, onData: (s: net.Socket, data: string) => void) => {
    const socket = path.join(dir, name);
    // Half-open allowed: a server that never ends its side (a frozen HAProxy) keeps it open.
    const server = net.createServer({ allowHalfOpen: true }, (connection) => {
      connections.push(connection);
      connection.on('data', (data: Buffer) => {
        onData(connection, data.toString());
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    return socket;
  };
  try {
    // As HAProxy's admin socket: the answer in pieces, then the connection closed.
    const answers = await listen('answers', (s, data) => {
      s.write(`# pxname,svname\n`);
      s.end(`asked: ${data}`);
    });
    const hangs = await listen('hangs', (s) => s.write('# pxname'));
    assert.equal(
      await askSocket(answers, 'show stat\n', 2000),
      '# pxname,svname\nasked: show stat\n',
    );
    await assert.rejects(askSocket(hangs, 'show stat\n', 200), /no complete answer .* 200 ms/);
    await assert.rejects(askSocket(path.join(dir, 'absent'), 'x', 200), /cannot ask .*ENOENT/);
  } finally {
    for (const c of connections) c.destroy();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    await fs.rm(dir, { recursive: true, force: true });
  }
});
