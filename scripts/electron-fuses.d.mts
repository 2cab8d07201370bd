export const SENTINEL: string
export const FUSE_INDEX: Record<string, number>
export const CONSOLE_FUSES: Record<string, boolean>
export function readFuses(buf: Buffer): Record<string, boolean | string>
export function flipFuses(buf: Buffer, config?: Record<string, boolean>): string[]
export function checkFuses(buf: Buffer, config?: Record<string, boolean>): string[]
