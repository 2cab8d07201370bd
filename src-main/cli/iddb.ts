/**
 * `iddb`: the headless CLI (bundled to out/cli/iddb.cjs by scripts/build-cli.mjs).
 * Commands are modules exporting {name, summary, usage, run(argv)}. To add one: create
 * src-main/cli/commands/<name>.ts, import it below (one line) and add it to COMMANDS.
 */
import { EngineError } from '../../engine/errors'
import { UsageError, type CliCommand } from './registry'
import pkg from '../../package.json'
// Commands: one import line each, plus the name in COMMANDS.
import * as serve from './serve'
import * as bench from './commands/bench'
import { commands as dataCommands } from './commands/data'
import * as query from './commands/query'
import * as audit from './commands/audit'
import { commands as backupCommands } from './commands/backup'
import * as pgCommand from './commands/pg'
import * as check from './commands/check'
import * as compare from './commands/compare'

const COMMANDS: CliCommand[] = [...dataCommands, query, serve, bench, audit, ...backupCommands, pgCommand, check, compare]

function help(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length))
  return `iddb ${pkg.version} — Infinity DDB Console, headless

usage: iddb <command> [options]      iddb <command> --help

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join('\n')}
`
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    if (cmd === 'help' && rest[0]) return main([rest[0], '--help'])
    process.stdout.write(help())
    return cmd ? 0 : 2
  }
  if (cmd === '--version' || cmd === '-v') { process.stdout.write(`${pkg.version}\n`); return 0 }
  const c = COMMANDS.find((x) => x.name === cmd)
  if (!c) { process.stderr.write(`iddb: unknown command "${cmd}"\n\n${help()}`); return 2 }
  if (rest.includes('--help') || rest.includes('-h')) { process.stdout.write(`${c.usage}\n`); return 0 }
  return (await c.run(rest)) ?? 0
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (e: unknown) => {
    if (e instanceof UsageError || (e as { code?: string })?.code?.startsWith?.('ERR_PARSE_ARGS')) {
      process.stderr.write(`iddb: ${(e as Error).message}\n`)
      process.exitCode = 2
    } else if (e instanceof EngineError) {
      process.stderr.write(`iddb: ${e.code}: ${e.message}\n`)
      process.exitCode = 1
    } else {
      process.stderr.write(`iddb: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
      process.exitCode = 1
    }
  },
)
