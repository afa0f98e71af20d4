import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildModel } from '../../model/build.ts';
import {
  adminBootstrapSql,
  desiredAccounts,
  globalPrivileges,
  hashesOf,
  identifiedBy,
  needsSsl,
  passwordHash,
  requiresSsl,
} from './accounts.ts';

describe('database accounts', () => {
  it('hash a password as MariaDB’s PASSWORD() does', () => {
    // SELECT PASSWORD('hello') on MariaDB 10.11.
    assert.equal(passwordHash('hello'), '*6B4F89A54E2D27ECD7E8DA05B4AB8FD9D1D8B119');
  });

  it('give the app only reads and inserts on its schema, from each web server, replication only the binary log, the failover managers only replication switches, the monitor only counters', () => {
    const accounts = desiredAccounts(
      buildModel({ hosts: { 'web-03': { roles: ['web'], core: 23 } } }),
    );
    assert.deepEqual(
      accounts.map((a) => `${a.user}@${a.host}: ${a.privileges}`),
      [
        'foobar_app@10.77.2.21: SELECT, INSERT ON `foobar`.*',
        'foobar_app@10.77.2.22: SELECT, INSERT ON `foobar`.*',
        'foobar_app@10.77.2.23: SELECT, INSERT ON `foobar`.*',
        'foobar_repl@10.77.2.31: REPLICATION SLAVE ON *.*',
        'foobar_repl@10.77.2.32: REPLICATION SLAVE ON *.*',
        ...['10.77.2.11', '10.77.2.12', '10.77.2.90'].map(
          (address) =>
            `foobar_failover@${address}: RELOAD, REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN, READ_ONLY ADMIN, CONNECTION ADMIN, PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.*`,
        ),
        'foobar_backup@10.77.2.40: RELOAD, REPLICATION SLAVE, BINLOG MONITOR, BINLOG ADMIN ON *.*',
        'foobar_monitor@localhost: PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.*',
      ],
    );
  });

  it('list server-wide privileges as the server does, to give an account what it lacks', () => {
    assert.deepEqual(globalPrivileges({ privileges: 'PROCESS, SLAVE MONITOR ON *.*' }), [
      'PROCESS',
      'SLAVE MONITOR',
    ]);
    assert.deepEqual(globalPrivileges({ privileges: 'SELECT, INSERT ON `foobar`.*' }), []);
  });

  it('make the admin account from a hash, out of the binary log', () => {
    const sql = adminBootstrapSql(passwordHash('secret'));
    assert.match(sql, /^SET SESSION sql_log_bin = 0;/);
    assert.match(sql, /'foobar_admin'@'localhost' IDENTIFIED BY PASSWORD '\*[0-9A-F]{40}'/);
    assert.doesNotMatch(sql, /secret/);
  });

  it('accept two passwords at once while one is rotated, read back as the server keeps them', () => {
    const [a, b] = [passwordHash('old'), passwordHash('new')];
    assert.equal(identifiedBy([a]), `IDENTIFIED BY PASSWORD '${a}'`);
    assert.equal(
      identifiedBy([b, a]),
      `IDENTIFIED VIA mysql_native_password USING '${b}' OR mysql_native_password USING '${a}'`,
    );
    // mysql.global_priv's Priv of such an account on MariaDB 10.11 (the first entry of auth_or
    // stands for the row's own method).
    const priv = JSON.stringify({
      access: 0,
      plugin: 'mysql_native_password',
      authentication_string: b,
      auth_or: [{}, { plugin: 'mysql_native_password', authentication_string: a }],
    });
    assert.deepEqual(hashesOf(priv), [b, a]);
    assert.deepEqual(hashesOf(JSON.stringify({ authentication_string: a })), [a]);
    assert.deepEqual(hashesOf('not json'), []);
  });

  it('require TLS of every account used over the network, read back as the server keeps it', () => {
    const accounts = desiredAccounts(buildModel({}));
    assert.deepEqual(
      [...new Set(accounts.filter(needsSsl).map((a) => a.role))],
      ['app', 'replication', 'failover', 'backup'],
    );
    // The monitor's exporter uses the socket, which is not TLS (and local).
    assert.deepEqual(
      accounts.filter((a) => !needsSsl(a)).map((a) => a.role),
      ['monitor'],
    );
    // mysql.global_priv's Priv on MariaDB 10.11 after REQUIRE SSL, and without it.
    assert.equal(requiresSsl(JSON.stringify({ access: 0, ssl_type: 1, ssl_cipher: '' })), true);
    assert.equal(requiresSsl(JSON.stringify({ access: 0, ssl_type: 0 })), false);
    assert.equal(requiresSsl(JSON.stringify({ access: 0 })), false);
    assert.equal(requiresSsl('not json'), false);
  });
});
