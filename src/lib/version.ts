import {readFileSync} from 'node:fs'

let cached: string | undefined

/** ccl's own version, from package.json (two levels up from both src/lib and dist/lib). */
export function cclVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {version?: unknown}
      cached = typeof pkg.version === 'string' ? pkg.version : '0.0.0'
    } catch {
      cached = '0.0.0'
    }
  }

  return cached
}
