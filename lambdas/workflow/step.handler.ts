/** Lambda entry for the state machine's workflow steps (acquire lock, record preview/approval, finish, release). */
import { lazyDeps } from './deps';
import { runStep } from './steps';

const deps = lazyDeps();

export const handler = (event: unknown): Promise<unknown> => runStep(deps(), event);
