/** Terraform's LockInfo document, which every lock store holds as JSON: `{ID, Operation, Info, Who, Version, Created, Path}`. */
import type { StateLockStore, TerraformStateLock } from '../../domain/ports';

/** A lock as found in its store, with the delete that removes exactly what was read. */
export interface FoundLock {
  lock: TerraformStateLock;
  /** Deletes the lock if it is still what was read; false when it changed or went meanwhile. */
  remove(): Promise<boolean>;
}

/** The lock from its stored JSON; a document nobody can parse is still a lock (Terraform would refuse it too). */
export function parseLockInfo(raw: string, store: StateLockStore, held?: boolean): TerraformStateLock {
  const base = { store, ...(held === undefined ? {} : { held }) };
  try {
    const info = JSON.parse(raw) as { ID?: unknown; Operation?: unknown; Who?: unknown; Created?: unknown; Path?: unknown };
    const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    return {
      id: str(info.ID) ?? '',
      who: str(info.Who) ?? 'unknown',
      ...(str(info.Operation) ? { operation: str(info.Operation) } : {}),
      ...(str(info.Created) ? { created: str(info.Created) } : {}),
      ...(str(info.Path) ? { path: str(info.Path) } : {}),
      ...base,
    };
  } catch {
    return { id: '', who: 'unknown (unreadable lock info)', ...base };
  }
}
