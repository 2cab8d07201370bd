/** Shared set-up of the DIM's tests: a cluster with the handlers over it, and a snapshot of every site's data. */
import { createHash } from 'node:crypto'
import { Cluster } from '../cluster'
import { JobRunner } from '../../src-main/engine-host/jobs'
import { calls, type CallInput, type CallName, type CallOutput } from '../../src-main/ipc/contract'
import { handlers } from '../../src-main/handlers/index'
import type { HandlerContext } from '../../src-main/handlers/context'
import { localAdmin } from '../security/identities'

export async function setup(sales = 300, seed = 3) {
  const cluster = await Cluster.create({ seed, sales })
  const ctx: HandlerContext = { cluster, jobs: new JobRunner(() => {}), host: 'cli', dataDir: null, actor: localAdmin('test'), emit: () => {}, clock: { speed: 0, setSpeed: () => {} } }
  const run = <N extends CallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>> =>
    (handlers[name] as (c: HandlerContext, i: unknown) => Promise<CallOutput<N>>)(ctx, calls[name].input.parse(input))
  return { cluster, run }
}

/** Row counts and a checksum of every data table at every site's primary. */
export function snapshot(c: Cluster): Record<string, string> {
  const out: Record<string, string> = {}
  for (const s of c.siteCodes) {
    const st = c.siteStore(s)
    for (const t of st.tables()) {
      const r = st.query(`SELECT * FROM "${t}" ORDER BY 1`)
      out[`${s}.${t}`] = `${r.rows.length}:${createHash('sha256').update(JSON.stringify(r.rows)).digest('hex').slice(0, 16)}`
    }
  }
  return out
}

export const firstRow = (c: Cluster, site: string, sql: string) => c.siteStore(site).query(sql).rows[0]

/** A SALES insert through the global name (AMOUNT given as is). */
export const sale = (inv: number, br: string, itemno: number, qty: number, price: number, amount: number, emp: number | string) =>
  `INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, SOLD_AT, EMPNO) VALUES (${inv}, '${br}', ${itemno}, ${qty}, ${price}, ${amount}, '2026-11-23 10:00:00', ${emp})`
