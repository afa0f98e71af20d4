import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { mariadb } from '../../commands/mariadb.ts';
import { assertGolden } from '../golden.ts';
import { fixture, runChecker, scratchFixture } from '../testing.ts';
import { mariadbFiles, renderMariadbConfig } from './index.ts';

/** `mariadbd --help --verbose` ends with a table of every variable and the value it would use. */
function effectiveValues(help: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of help.split('\n')) {
    const match = /^([a-z][a-z0-9-_]*)\s{2,}(\S.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], match[2].trim());
  }
  return values;
}

describe('renderMariadbConfig', () => {
  it('matches the golden file for db-01 of the default lab', () => {
    const { model, host, paths } = fixture('db-01');
    assertGolden(
      path.join(import.meta.dirname, '__golden__', 'db-01.cnf'),
      renderMariadbConfig(model, host, paths),
    );
  });

  it('gives each server its own id, address and log names', () => {
    const { model, host, paths } = fixture('db-02');
    const text = renderMariadbConfig(model, host, paths);
    assert.match(text, /^server_id = 32$/m);
    assert.match(text, /^bind_address = 10\.77\.2\.32$/m);
    assert.match(text, /^log_bin = db-02-bin$/m);
    assert.match(text, /^relay_log = db-02-relay-bin$/m);
  });

  it('is read by mariadbd itself without an error or a warning about an option', async () => {
    const lab = scratchFixture('db-01');
    try {
      const files = mariadbFiles(lab.paths);
      mkdirSync(path.dirname(files.config), { recursive: true });
      writeFileSync(files.config, renderMariadbConfig(lab.model, lab.host, lab.paths));
      const result = await runChecker(mariadb.check(files.config));
      assert.equal(result.exitCode, 0, result.stderr);
      assert.doesNotMatch(result.stderr, /\[ERROR\]|option '/);
      const values = effectiveValues(result.stdout);
      assert.deepEqual(
        Object.fromEntries(
          [
            'server-id',
            'report-host',
            'log-bin',
            'binlog-format',
            'gtid-strict-mode',
            'log-slave-updates',
            'read-only',
            'skip-slave-start',
            'sync-binlog',
            'rpl-semi-sync-master-enabled',
            'rpl-semi-sync-slave-enabled',
            'rpl-semi-sync-master-wait-point',
            'rpl-semi-sync-master-timeout',
            'slave-net-timeout',
            'bind-address',
            'socket',
            'require-secure-transport',
            'tls-version',
          ].map((name) => [name, values.get(name)]),
        ),
        {
          'server-id': '31',
          'report-host': 'db-01',
          'log-bin': 'db-01-bin',
          'binlog-format': 'ROW',
          'gtid-strict-mode': 'TRUE',
          'log-slave-updates': 'TRUE',
          'read-only': 'TRUE',
          'skip-slave-start': 'TRUE',
          'sync-binlog': '1',
          'rpl-semi-sync-master-enabled': 'FALSE',
          'rpl-semi-sync-slave-enabled': 'TRUE',
          'rpl-semi-sync-master-wait-point': 'AFTER_SYNC',
          'rpl-semi-sync-master-timeout': '1000',
          'slave-net-timeout': '2',
          'bind-address': '10.77.2.31',
          socket: files.socket,
          'require-secure-transport': 'TRUE',
          'tls-version': 'TLSv1.2,TLSv1.3',
        },
      );
    } finally {
      lab.dispose();
    }
  });

  it('has a checker that fails on an option mariadbd does not know', async () => {
    const lab = scratchFixture('db-01');
    try {
      const files = mariadbFiles(lab.paths);
      mkdirSync(path.dirname(files.config), { recursive: true });
      const text = renderMariadbConfig(lab.model, lab.host, lab.paths);
      writeFileSync(files.config, `${text}rpl_semi_sync_wait_pont = AFTER_SYNC\n`);
      const result = await runChecker(mariadb.check(files.config));
      assert.notEqual(result.exitCode, 0);
      assert.match(result.stderr, /unknown variable 'rpl_semi_sync_wait_pont=AFTER_SYNC'/);
    } finally {
      lab.dispose();
    }
  });
});
