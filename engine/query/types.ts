/** The DQP's plain-data views live in engine/api/query.ts (the renderer type-checks engine/api). */
export type * from '../api/query'
