/**
 * The lab, end to end, second half: failures of every tier and what heals them, on a lab of its
 * own (SECOND_TEST_LAB) that runs beside test/lab.test.ts's. As there, every assertion goes
 * through a real client on the lab's client host, and the last test takes the lab down and checks
 * that nothing is left behind.
 */
import { createTestLab, SECOND_TEST_LAB, TEST_LAB_CONFIG } from './support/lab.ts';
import { labLifecycle } from './suites/lifecycle.ts';
import { edgeHaSuite } from './suites/edge-ha.ts';
import { drillSuite } from './suites/drill.ts';
import { databaseSuite } from './suites/database.ts';
import { degradedSuite } from './suites/degraded.ts';
import { failoverSuite } from './suites/failover.ts';
import { exportersTransitSuite } from './suites/transit-exporters.ts';

labLifecycle(createTestLab(TEST_LAB_CONFIG, SECOND_TEST_LAB), [
  // Here, not in the first half, to even the two halves out: in a run on 2026-12-07 the first
  // took 1,234 s of suites and this one 1,061 s; this suite took 94 s there.
  exportersTransitSuite,
  edgeHaSuite,
  drillSuite,
  // Before the database suite: it starts from the default topology (db-01 primary, db-02 replica).
  degradedSuite,
  failoverSuite,
  databaseSuite,
]);
