export declare const prng: (seed: number) => () => number
export declare const SCHEMA: string
export declare const INSERT: string
export type Row = [string, string, string, string, number | null, string, string]
export declare const rows: (seed: number) => () => Row
