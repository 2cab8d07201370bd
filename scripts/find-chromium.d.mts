export function findSystemChromium(): string | undefined
export function findPlaywrightChromium(): string | undefined
export function findChromium(): string | undefined
export const CHROMIUM_ARGS: string[]
