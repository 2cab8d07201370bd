/** Small statistics shared by the bench groups. */

/** The median (the mean of the two middle values for an even count). */
export const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }
