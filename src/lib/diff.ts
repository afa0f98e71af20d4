/**
 * A unified diff of two texts (what `diff -u` prints), for `foobar up --plan`: config files are a
 * few hundred lines, so a longest-common-subsequence table is small and simple enough.
 */

interface Edit {
  readonly op: ' ' | '-' | '+';
  readonly line: string;
}

function lines(text: string): string[] {
  if (text === '') return [];
  const split = text.split('\n');
  if (split.at(-1) === '') split.pop();
  return split;
}

function edits(a: readonly string[], b: readonly string[]): Edit[] {
  // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    const row = lcs[i] as Uint32Array;
    const below = lcs[i + 1] as Uint32Array;
    for (let j = b.length - 1; j >= 0; j--) {
      row[j] = a[i] === b[j] ? (below[j + 1] ?? 0) + 1 : Math.max(below[j] ?? 0, row[j + 1] ?? 0);
    }
  }
  const out: Edit[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ op: ' ', line: a[i] ?? '' });
      i++;
      j++;
    } else if (
      i < a.length &&
      (j === b.length || (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))
    ) {
      // Deletions before additions, as diff prints them.
      out.push({ op: '-', line: a[i] ?? '' });
      i++;
    } else {
      out.push({ op: '+', line: b[j] ?? '' });
      j++;
    }
  }
  return out;
}

/**
 * `before` undefined: the file does not exist yet. Empty when the texts are equal. Hunks carry
 * `context` unchanged lines around each change, as `diff -u` does.
 */
export function unifiedDiff(
  name: string,
  before: string | undefined,
  after: string,
  context = 3,
): string {
  if (before === after) return '';
  const all = edits(lines(before ?? ''), lines(after));
  const changed = all.flatMap((edit, index) => (edit.op === ' ' ? [] : [index]));
  const hunks: [number, number][] = [];
  for (const index of changed) {
    const start = Math.max(0, index - context);
    const end = Math.min(all.length, index + context + 1);
    const last = hunks.at(-1);
    if (last !== undefined && start <= last[1]) last[1] = end;
    else hunks.push([start, end]);
  }
  const out = [
    `--- ${before === undefined ? '/dev/null' : `${name} (now)`}`,
    `+++ ${name} (planned)`,
  ];
  for (const [start, end] of hunks) {
    const before = all.slice(0, start);
    const oldStart = before.filter((e) => e.op !== '+').length;
    const newStart = before.filter((e) => e.op !== '-').length;
    const body = all.slice(start, end);
    const oldCount = body.filter((e) => e.op !== '+').length;
    const newCount = body.filter((e) => e.op !== '-').length;
    out.push(
      `@@ -${oldCount === 0 ? oldStart : oldStart + 1},${oldCount} +${newCount === 0 ? newStart : newStart + 1},${newCount} @@`,
      ...body.map((e) => `${e.op}${e.line}`),
    );
  }
  return `${out.join('\n')}\n`;
}
