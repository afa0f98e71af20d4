import assert from 'node:assert/strict';
import { it } from 'node:test';
import { renderAdminClientConfig } from '../../render/mariadb/index.ts';
import { clientOptions } from './sql.ts';

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
