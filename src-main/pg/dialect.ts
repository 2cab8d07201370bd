/**
 * The one translation of the DQP's SQL (SQLite's dialect: the planner writes it for the embedded sql.js sites)
 * into PostgreSQL's, for the live sites (sitestore.ts). It is a rewrite of the statement's tokens, not a
 * second planner: what the planner decided is sent unchanged, only spelled as PostgreSQL reads it.
 *
 *  - `?` parameters become `$1..$n` (never inside a string literal or a quoted name);
 *  - the semijoin's key list `"COL" IN (SELECT value FROM json_each(?))` becomes
 *    `to_jsonb("COL") IN (SELECT jsonb_array_elements($n::jsonb))`: the keys travel as one JSON array, as they
 *    do to an embedded site, and compare as JSON values (a number equals a number, a string a string — the
 *    storage classes SQLite compares by);
 *  - the statement guard (engine/query/guard.ts: `__iddb_guard(… rowid …)`, the sampled
 *    `(rowid % 61 <> 0 OR __iddb_guard_s(rowid))`) becomes TRUE: a live server has no rowid and no sql.js
 *    function; its statements are limited by the bridge's statement_timeout instead (syncbridge.ts);
 *  - an unquoted name that is not an SQL keyword or a function is quoted as written (`LCAT_TABLES` →
 *    `"LCAT_TABLES"`): a live site keeps its names' exact case (load.ts), and PostgreSQL would fold it;
 *  - every ASC sorts NULLs first and every DESC last (SQLite's order; PostgreSQL's default is the reverse);
 *  - a chain of set operations is parenthesised from the left (`A UNION B INTERSECT C` → `(A UNION B) INTERSECT
 *    C`): SQLite applies them left to right, PostgreSQL binds INTERSECT tighter.
 *
 * SQLite functions PostgreSQL lacks and the DQP's SQL may call — typeof(), TOTAL(), ifnull() — are created
 * in every live database instead (PG_COMPAT_SQL, run by load.ts when it loads the design): they return what
 * SQLite's do for the values a live site holds (typeof of an integral numeric, e.g. a SUM of bigints, is
 * 'integer', as SQLite's SUM of integers is). What is not translated — SQLite's typing of mixed-class
 * expressions (a UNION of text and numbers, `||` over a real) — is PostgreSQL's at a live site; the live
 * differential test lists those differences (dqp.test.ts).
 */
import { EngineError } from '../../engine/errors'
import { GUARD_FN, GUARD_SAMPLED_FN, guardTerm } from '../../engine/query/guard'
import type { SqlValue } from '../../engine/site/sqljs'

/** Words left unquoted: SQL keywords and type names the DQP's statements use. */
const KEYWORDS = new Set(`ALL AND AS ASC BETWEEN BY CASE CAST CROSS DESC DISTINCT ELSE END ESCAPE EXCEPT EXISTS FALSE FIRST FROM FULL
  GLOB GROUP HAVING IN INNER INTERSECT IS ISNULL JOIN LAST LEFT LIKE LIMIT NATURAL NOT NOTNULL NULL NULLS OFFSET ON OR ORDER OUTER
  RIGHT SELECT THEN TRUE UNION USING VALUES WHEN WHERE WITH INTEGER INT BIGINT REAL TEXT BLOB NUMERIC BOOLEAN FLOAT DOUBLE PRECISION`.split(/\s+/))

type Tok = { k: 'str' | 'qid' | 'word' | 'param' | 'ws' | 'other'; v: string }

function tokenize(sql: string): Tok[] {
  const out: Tok[] = []
  let i = 0
  while (i < sql.length) {
    const c = sql[i]
    if (c === "'" || c === '"') {
      let j = i + 1
      for (;;) {
        if (j >= sql.length) throw new EngineError('SQL_ERROR', `unterminated ${c === "'" ? 'string literal' : 'quoted name'} in: ${sql.slice(i, i + 40)}`)
        if (sql[j] === c) { if (sql[j + 1] === c) { j += 2; continue } break }
        j++
      }
      out.push({ k: c === "'" ? 'str' : 'qid', v: sql.slice(i, j + 1) })
      i = j + 1
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1
      while (j < sql.length && /[A-Za-z0-9_$]/.test(sql[j])) j++
      out.push({ k: 'word', v: sql.slice(i, j) })
      i = j
    } else if (/\d/.test(c)) {
      let j = i + 1
      while (j < sql.length && /[0-9.eE]/.test(sql[j])) j++
      out.push({ k: 'other', v: sql.slice(i, j) })
      i = j
    } else if (/\s/.test(c)) {
      let j = i + 1
      while (j < sql.length && /\s/.test(sql[j])) j++
      out.push({ k: 'ws', v: sql.slice(i, j) })
      i = j
    } else if (c === '?') {
      out.push({ k: 'param', v: '?' })
      i++
    } else {
      out.push({ k: 'other', v: c })
      i++
    }
  }
  return out
}

/** Index of the next token that is not white space, from i. */
const next = (t: Tok[], i: number) => { while (i < t.length && t[i].k === 'ws') i++; return i }

const SET_OPS = new Set(['UNION', 'INTERSECT', 'EXCEPT'])

/**
 * Parenthesises every chain of two or more set operations from the left, at each nesting level: the chain
 * starts at its level's first token (the statement's, or the one after a subquery's opening parenthesis).
 */
function leftAssociate(t: Tok[]): Tok[] {
  const open: number[] = [] // per level: where it starts
  const ops = new Map<number, number[]>() // level start → its set operators
  let start = 0
  for (let i = 0; i < t.length; i++) {
    const v = t[i].v
    if (v === '(') { open.push(start); start = i + 1; continue }
    if (v === ')') { start = open.pop() ?? 0; continue }
    if (t[i].k === 'word' && SET_OPS.has(v.toUpperCase())) ops.set(start, [...(ops.get(start) ?? []), i])
  }
  const before = new Map<number, number>() // token index → '(' to insert before it
  const closeAt = new Set<number>() // a ')' before this operator
  for (const [from, list] of ops) {
    if (list.length < 2) continue
    before.set(from, (before.get(from) ?? 0) + list.length - 1)
    for (const i of list.slice(1)) closeAt.add(i)
  }
  if (!closeAt.size) return t
  const out: Tok[] = []
  t.forEach((x, i) => {
    for (let n = before.get(i) ?? 0; n > 0; n--) out.push({ k: 'other', v: '(' })
    if (closeAt.has(i)) out.push({ k: 'other', v: ')' }, { k: 'ws', v: ' ' })
    out.push(x)
  })
  return out
}

/** Translations kept by statement text (the text depends on the statement alone; the values are the call's own). */
const translated = new Map<string, { text: string; n: number }>()
const TRANSLATED = 512

/** The SQL text and the parameter values to send to a live site for one of the DQP's statements. */
export function toPostgres(sql: string, params: readonly SqlValue[] = []): { text: string; values: unknown[] } {
  let t = translated.get(sql)
  if (!t) {
    t = translate(sql)
    if (translated.size >= TRANSLATED) translated.clear()
    translated.set(sql, t)
  }
  if (t.n !== params.length) throw new EngineError('BAD_INPUT', `the statement has ${t.n} parameters but ${params.length} values were given`)
  return { text: t.text, values: params.map((v) => (v instanceof Uint8Array ? Buffer.from(v) : v)) }
}

function translate(sql: string): { text: string; n: number } {
  // the planner's fixed forms, matched exactly as it writes them (engine/query/plan.ts, guard.ts)
  let s = sql.split(guardTerm()).join('TRUE')
  s = s.replace(/("(?:[^"]|"")+") IN \(SELECT value FROM json_each\(\?\)\)/g, 'to_jsonb($1) IN (SELECT jsonb_array_elements(?::jsonb))')
  const t = leftAssociate(tokenize(s))
  let out = ''
  let n = 0
  for (let i = 0; i < t.length; i++) {
    const x = t[i]
    if (x.k === 'param') { out += `$${++n}`; continue }
    if (x.k !== 'word') { out += x.v; continue }
    const up = x.v.toUpperCase()
    const after = next(t, i + 1)
    const call = t[after]?.v === '('
    if (call && (x.v === GUARD_FN || x.v === GUARD_SAMPLED_FN)) {
      // the guard call and its arguments (rowids) → TRUE
      let depth = 0, j = after
      for (; j < t.length; j++) { if (t[j].v === '(') depth++; else if (t[j].v === ')' && --depth === 0) break }
      out += 'TRUE'
      i = j
      continue
    }
    if (call && up === 'JSON_EACH') throw new EngineError('UNSUPPORTED', 'json_each() is translated for a live site only in the semijoin\'s key list the planner writes')
    if (up === 'ASC' || up === 'DESC') {
      const k = t[after]
      out += x.v
      if (!(k?.k === 'word' && k.v.toUpperCase() === 'NULLS')) out += up === 'ASC' ? ' NULLS FIRST' : ' NULLS LAST'
      continue
    }
    // a name after "::" is a PostgreSQL type (only this translation writes casts)
    const cast = out.endsWith('::')
    out += call || cast || KEYWORDS.has(up) ? x.v : `"${x.v}"`
  }
  return { text: out, n }
}

/**
 * SQLite's functions the DQP's statements may use, created in every live database (sites, main repository):
 * typeof() as SQLite names a value's storage class, TOTAL() (a float sum, 0.0 over no rows), ifnull().
 * Every type a live site's values have gets its own typeof(): a plain CASE the planner inlines and folds (a SUM of
 * doubles is 'real' unless NULL; a numeric is 'integer' when it has no fractional digits, as a SUM of bigints
 * has). typeof(anyelement), for any other type, compares pg_typeof() with regtype literals: it is STABLE, as
 * pg_typeof() is, so it is inlined too, but planning those casts cost a site's partial aggregates with their
 * class flags 0.66 ms of planning and 0.49 ms of execution over 172 groups, against 0.07 ms and 0.38 ms with the
 * typed ones. (Declared IMMUTABLE it is not inlined at all and runs as a call per value: 1.7 ms.)
 */
export const PG_COMPAT_SQL = `
CREATE OR REPLACE FUNCTION typeof(v anyelement) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN v IS NULL THEN 'null'
    WHEN pg_typeof(v) IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'boolean'::regtype) THEN 'integer'
    WHEN pg_typeof(v) = 'numeric'::regtype THEN CASE WHEN v::text ~ '^-?[0-9]+$' THEN 'integer' ELSE 'real' END
    WHEN pg_typeof(v) IN ('real'::regtype, 'double precision'::regtype) THEN 'real'
    WHEN pg_typeof(v) = 'bytea'::regtype THEN 'blob'
    ELSE 'text' END
$$;
CREATE OR REPLACE FUNCTION typeof(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN v IS NULL THEN 'null' ELSE 'text' END $$;
CREATE OR REPLACE FUNCTION typeof(v smallint) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN v IS NULL THEN 'null' ELSE 'integer' END $$;
CREATE OR REPLACE FUNCTION typeof(v integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN v IS NULL THEN 'null' ELSE 'integer' END $$;
CREATE OR REPLACE FUNCTION typeof(v bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN v IS NULL THEN 'null' ELSE 'integer' END $$;
CREATE OR REPLACE FUNCTION typeof(v boolean) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN v IS NULL THEN 'null' ELSE 'integer' END $$;
CREATE OR REPLACE FUNCTION typeof(v real) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN v IS NULL THEN 'null' ELSE 'real' END $$;
CREATE OR REPLACE FUNCTION typeof(v double precision) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN v IS NULL THEN 'null' ELSE 'real' END $$;
CREATE OR REPLACE FUNCTION typeof(v numeric) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN v IS NULL THEN 'null' WHEN scale(v) = 0 THEN 'integer' ELSE 'real' END $$;
CREATE OR REPLACE FUNCTION typeof(v bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN v IS NULL THEN 'null' ELSE 'blob' END $$;
CREATE OR REPLACE AGGREGATE total(double precision) (SFUNC = float8pl, STYPE = double precision, INITCOND = '0');
CREATE OR REPLACE FUNCTION ifnull(a anyelement, b anyelement) RETURNS anyelement LANGUAGE sql IMMUTABLE AS $$ SELECT COALESCE(a, b) $$;
`
