/**
 * Loads sql.js once (async: the wasm is compiled on first use) and offers small helpers over a
 * sql.js Database: run a statement with parameters, read {columns, rows}, always freeing statements.
 */
import initSqlJs, { type Database, type SqlJsStatic, type SqlValue } from 'sql.js'
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { EngineError } from '../errors'

export type { Database, SqlValue }
export type Params = SqlValue[] | Record<string, SqlValue>
export interface QueryResult {
  columns: string[]
  rows: SqlValue[][]
  /** A live server's answer: the bytes the statement sent and received on its connection (an embedded site has none). */
  wire?: { sent: number; received: number }
}

let wasmOverride: string | undefined
let loading: Promise<SqlJsStatic> | undefined
let loaded: SqlJsStatic | undefined

/** Where the host keeps sql-wasm.wasm when bundling moves code away from node_modules. */
export function setSqlJsWasmPath(path: string): void { wasmOverride = path; loading = undefined }

function locateWasm(): string | undefined {
  const cands: string[] = []
  if (wasmOverride) cands.push(wasmOverride)
  if (process.env.IDDB_SQLJS_WASM) cands.push(process.env.IDDB_SQLJS_WASM)
  const tryResolve = (req: NodeJS.Require | undefined) => {
    try { if (req) cands.push(req.resolve('sql.js/dist/sql-wasm.wasm')) } catch { /* not resolvable from here */ }
  }
  try { tryResolve(createRequire(import.meta.url)) } catch { /* import.meta.url absent in a CJS bundle */ }
  try { tryResolve(typeof require === 'function' ? require : undefined) } catch { /* ESM */ }
  tryResolve(createRequire(join(process.cwd(), 'package.json')))
  cands.push(join(process.cwd(), 'node_modules/sql.js/dist/sql-wasm.wasm'))
  return cands.find((p) => existsSync(p))
}

export function loadSqlJs(): Promise<SqlJsStatic> {
  if (!loading) {
    const wasm = locateWasm()
    loading = initSqlJs(wasm ? { locateFile: () => wasm } : undefined)
    loading.then((s) => { loaded = s }, () => { loading = undefined })
  }
  return loading
}

/** sql.js if it has finished loading (synchronous callers: scratch databases inside the simulation). */
export function loadedSqlJs(): SqlJsStatic | undefined { return loaded }

/** Runs one statement (with optional parameters) and returns every row. */
export function queryDb(db: Database, sql: string, params?: Params): QueryResult {
  let stmt
  try {
    stmt = db.prepare(sql)
  } catch (e) {
    throw sqlError(e)
  }
  try {
    if (params && (Array.isArray(params) ? params.length : Object.keys(params).length)) stmt.bind(params as never)
    const rows: SqlValue[][] = []
    while (stmt.step()) rows.push(stmt.get())
    return { columns: stmt.getColumnNames(), rows }
  } catch (e) {
    throw sqlError(e)
  } finally {
    stmt.free()
  }
}

/** Runs a script of several statements without parameters; returns the last result that had columns. */
export function execScript(db: Database, sql: string): QueryResult {
  let last: QueryResult = { columns: [], rows: [] }
  try {
    for (const stmt of db.iterateStatements(sql)) {
      try {
        const rows: SqlValue[][] = []
        while (stmt.step()) rows.push(stmt.get())
        const columns = stmt.getColumnNames()
        if (columns.length) last = { columns, rows }
      } finally {
        stmt.free()
      }
    }
  } catch (e) {
    throw sqlError(e)
  }
  return last
}

export function scalar(db: Database, sql: string, params?: Params): SqlValue {
  const r = queryDb(db, sql, params)
  return r.rows[0]?.[0] ?? null
}

export function sqlError(e: unknown): EngineError {
  if (e instanceof EngineError) return e
  return new EngineError('SQL_ERROR', e instanceof Error ? e.message : String(e))
}

export const quoteId = (name: string) => `"${name.replace(/"/g, '""')}"`
