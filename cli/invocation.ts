/**
 * How a hint names the CLI. It is not installed on the PATH: the README runs it as `npx --no -- stackjobs` inside a
 * clone, and a hint that says `stackjobs approve …` then fails with "command not found" when pasted. npm and npx set
 * these variables for what they run, so a CLI started through them hints the npx form; one started otherwise (a
 * link on the PATH, `node cli/bin.js`) hints the bare name.
 */
export function cliCommand(env: NodeJS.ProcessEnv): string {
  return env.npm_lifecycle_event || env.npm_execpath || env.npm_command ? 'npx --no -- stackjobs' : 'stackjobs';
}
