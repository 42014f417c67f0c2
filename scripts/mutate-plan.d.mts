// Types for scripts/mutate-plan.mjs (a plain Node script, imported by test/repo/mutate-gate.test.ts).
export type Git = (...args: string[]) => string | undefined;
export type Range = [number, number];
export interface Target {
  file: string;
  ranges: Range[];
}
export interface Skipped extends Target {
  why: string;
}
export function gitIn(cwd: string): Git;
export function findBase(git: Git, env?: Record<string, string | undefined>): { base: string | undefined; why: string };
export function changedRanges(git: Git, from: string, file: string): Range[];
export function changedTargets(entries: readonly string[], rangesOf: (file: string) => Range[]): Target[];
export function codeLines(text: string): (line: number) => boolean;
export function planWithinBudget(
  targets: Target[],
  limits: { maxFiles: number; maxLines: number },
  isCode?: (file: string) => (line: number) => boolean,
): { selected: Target[]; skipped: Skipped[] };
export function mutateArg(targets: Target[]): string;
export function countLines(ranges: Range[], code?: (line: number) => boolean): number;
