/** A plan summary as one line, the way the CLI prints it (cli/render.ts `summaryLine`). */
import type { Schemas } from '../../api/client';

export function summaryLine(s: Schemas['PlanSummary']): string {
  const parts = [`${s.add} to add`, `${s.change} to change`, `${s.destroy} to destroy`, `${s.replace} to replace`];
  if (s.import) parts.push(`${s.import} to import`);
  if (s.forget) parts.push(`${s.forget} to forget`);
  return `Plan: ${parts.join(', ')}.${s.outputChanges ? ` ${s.outputChanges} output${s.outputChanges === 1 ? '' : 's'} change.` : ''}`;
}
