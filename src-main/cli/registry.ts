/** The shape every `iddb` command has. A command file exports these four names (see iddb.ts). */
export interface CliCommand {
  name: string
  /** One line for `iddb --help`. */
  summary: string
  /** Full usage text for `iddb <command> --help`. */
  usage: string
  /** Runs the command; resolves with the process exit code (undefined = 0). */
  run(argv: string[]): Promise<number | void>
}

/** Thrown by commands for a usage error: printed without a stack, exit code 2. */
export class UsageError extends Error {}

/** Parses an integer option, or throws a UsageError naming it. */
export function intOption(name: string, v: string | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer between ${min} and ${max}, got "${v}"`)
  return n
}
