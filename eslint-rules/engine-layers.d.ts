import type { Rule } from 'eslint'

export interface Layer { name: string; why: string; paths: string[] }
export const LAYERS: Layer[]
/** The layer of a repository-relative engine path, or undefined. */
export function layerOf(rel: string): { rank: number; layer: string; pattern: string } | undefined
declare const rule: Rule.RuleModule
export default rule
