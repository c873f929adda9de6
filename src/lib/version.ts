import {readFileSync} from 'node:fs'

// Set by the bundler (scripts/build.mjs); absent when the sources run directly (tests).
declare const __CCL_VERSION__: string | undefined

let cached: string | undefined = typeof __CCL_VERSION__ === 'string' ? __CCL_VERSION__ : undefined

/** ccl's own version: from the build, or from package.json (two levels up from src/lib). */
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
