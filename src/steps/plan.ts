/**
 * Long work as a plan: phases run one after another, the tasks of a phase run together. The CLI
 * shows the plan as a live task list; tests run it silently.
 */
export interface Task {
  readonly title: string;
  /** Resolves to a short outcome ("started", "up to date"). */
  run(): Promise<string>;
}

export interface Phase {
  readonly title: string;
  readonly tasks: readonly Task[];
  /** It only waits for what the phases before it did to take effect: `up --plan` leaves it out. */
  readonly verifies?: boolean;
}

export type TaskState =
  | { readonly kind: 'pending' }
  | { readonly kind: 'running'; readonly since: number }
  | { readonly kind: 'done'; readonly outcome: string; readonly ms: number }
  | { readonly kind: 'failed'; readonly error: Error; readonly ms: number };

export interface PlanReporter {
  phaseStarted(phase: Phase): void;
  taskChanged(phase: Phase, index: number, state: TaskState): void;
  phaseFinished(phase: Phase, states: readonly TaskState[]): void;
}

export class PlanError extends Error {
  readonly failures: readonly { readonly task: string; readonly error: Error }[];
  constructor(phase: string, failures: readonly { task: string; error: Error }[]) {
    super(
      `${phase} failed:\n${failures.map((f) => `  ${f.task}: ${f.error.message.replaceAll('\n', '\n    ')}`).join('\n')}`,
    );
    this.name = 'PlanError';
    this.failures = failures;
  }
}

export const silentReporter: PlanReporter = {
  phaseStarted: () => undefined,
  taskChanged: () => undefined,
  phaseFinished: () => undefined,
};

/** Runs every phase; a failed task lets its siblings finish, then stops the plan with PlanError. */
export async function runPlan(
  phases: readonly Phase[],
  reporter: PlanReporter = silentReporter,
): Promise<void> {
  for (const phase of phases) {
    reporter.phaseStarted(phase);
    const states: TaskState[] = phase.tasks.map(() => ({ kind: 'pending' }));
    const set = (index: number, state: TaskState): void => {
      states[index] = state;
      reporter.taskChanged(phase, index, state);
    };
    await Promise.all(
      phase.tasks.map(async (task, index) => {
        const since = Date.now();
        set(index, { kind: 'running', since });
        try {
          set(index, { kind: 'done', outcome: await task.run(), ms: Date.now() - since });
        } catch (error) {
          set(index, { kind: 'failed', error: error as Error, ms: Date.now() - since });
        }
      }),
    );
    reporter.phaseFinished(phase, states);
    const failures = phase.tasks.flatMap((task, index) => {
      const state = states[index];
      return state?.kind === 'failed' ? [{ task: task.title, error: state.error }] : [];
    });
    if (failures.length > 0) throw new PlanError(phase.title, failures);
  }
}
