/**
 * Imported first by runner.main.ts, before any schema is built: zod v4 decides at a schema's construction whether it
 * compiles a fast path with `new Function` on its first parse. A runner is one short process that parses each schema a
 * few times, so that compile is pure start-up cost: the first parse of a job took 11–13 ms with it and 4.5–5 ms
 * without (and later parses were not slower), measured on the bench machine with a job the latency bench recorded.
 */
import { config } from 'zod';

config({ jitless: true });
