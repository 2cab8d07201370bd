/**
 * Who the CLI acts as (engine/security/roles.ts). `--as USER` logs in as that console identity (the password from
 * $IDDB_PASSWORD, else asked on the terminal, else the first line of stdin) and every action is checked against its
 * role and audited. Without `--as` the CLI is the data directory's local administrator: whoever can run it on DIR can
 * already read and write every file there, so it acts with the HQ DBA's rights, audited as "local-admin".
 */
import { createInterface } from 'node:readline'
import type { Cluster } from '../../engine/cluster'
import { ConsoleIdentities, localAdmin } from '../../engine/security/identities'
import type { Actor } from '../../engine/security/roles'

export const AS_USAGE = `  --as USER   act as that console identity (password: $IDDB_PASSWORD, else prompted); default: the
              local administrator of DIR (HQ DBA rights, audited as local-admin)`

export async function readPassword(user: string): Promise<string> {
  if (process.env.IDDB_PASSWORD !== undefined) return process.env.IDDB_PASSWORD
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: !!process.stdin.isTTY })
  if (process.stdin.isTTY) {
    process.stderr.write(`password for ${user}: `)
    // no echo: the prompt is written once, keystrokes are not
    ;(rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {}
  }
  try {
    return await new Promise<string>((resolve) => {
      let done = false
      rl.once('line', (l) => { done = true; resolve(l) })
      rl.once('close', () => { if (!done) resolve('') })
    })
  } finally {
    if (process.stdin.isTTY) process.stderr.write('\n')
    rl.close()
  }
}

/** The actor for this run: the `--as` identity (logged in at its home site) or the local administrator. */
export async function cliActor(c: Cluster, as: string | undefined): Promise<Actor> {
  if (!as) return localAdmin()
  const ids = ConsoleIdentities.of(c)
  const s = ids.login(as, await readPassword(as))
  return ids.actorOf(s.token)
}

/** Runs one action as the CLI's actor: refused (ACCESS_DENIED, audited) or run and audited like a console action. */
export async function actAs<T>(c: Cluster, as: string | undefined, action: string, input: Record<string, unknown>, fn: () => T | Promise<T>): Promise<T> {
  const actor = await cliActor(c, as)
  return ConsoleIdentities.of(c).audited(actor, action, input, fn)
}
