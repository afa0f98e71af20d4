/**
 * For `foobar up --dry-run`: what healthy, fresh MariaDB servers answer foobar's queries, so the
 * plan runs through and prints every command it would run. The initial primary replicates from
 * no one; every other server replicates from it once told to.
 */
import type { ExecResult, Target } from '../../drivers/driver.ts';
import type { Responder } from '../../drivers/recording.ts';
import { addressOf, findHost, type Model } from '../../model/model.ts';

function xml(rows: readonly Record<string, string>[]): ExecResult {
  const body = rows
    .map(
      (row) =>
        `<row>${Object.entries(row)
          .map(([name, value]) => `<field name="${name}">${value}</field>`)
          .join('')}</row>`,
    )
    .join('');
  return { stdout: `<resultset statement="">${body}</resultset>`, stderr: '', exitCode: 0 };
}

export function simulatedDatabases(model: Model): Responder {
  const primary = findHost(model, model.database.initialPrimary);
  return (target: Target, argv: readonly string[], input?: string) => {
    if (argv[0] !== 'mariadb' || input === undefined) return undefined;
    if (input.includes('SHOW SLAVE STATUS')) {
      if (target === model.database.initialPrimary || primary === undefined) return xml([]);
      return xml([
        {
          Master_Host: addressOf(primary, 'core'),
          Slave_IO_Running: 'Yes',
          Slave_SQL_Running: 'Yes',
          Seconds_Behind_Master: '0',
          Using_Gtid: 'Slave_Pos',
        },
      ]);
    }
    if (input.includes('MASTER_GTID_WAIT')) return xml([{ waited: '0' }]);
    if (input.includes('@@global.read_only AS read_only'))
      return xml([{ read_only: '1', semi_enabled: '0', semi_status: 'OFF', semi_clients: '0' }]);
    return xml([]);
  };
}
