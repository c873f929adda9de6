import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {REPO} from './sandbox.js'

interface Metafile {
  outputs: Record<string, {inputs: Record<string, unknown>}>
}

function packageOf(file: string): string | undefined {
  const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)
  return match?.[1]
}

/**
 * The npm packages whose code a process ran, from the module URLs record-imports.mjs logged.
 * dist/ is bundled (scripts/build.mjs), so a dist file stands for the sources esbuild put into it,
 * as dist/meta.json lists them; a file under node_modules (@oclif/core, kept out of the bundle) is
 * its own package. `ccl:<file>` entries name the dist files themselves, to show the recorder works.
 */
export function loadedPackages(urls: string[]): Set<string> {
  const meta = JSON.parse(readFileSync(path.join(REPO, 'dist/meta.json'), 'utf8')) as Metafile
  const found = new Set<string>()
  for (const url of urls) {
    if (!url.startsWith('file:')) continue
    const file = path.relative(REPO, fileURLToPath(url))
    const direct = packageOf(file)
    if (direct) {
      found.add(direct)
      continue
    }

    const output = meta.outputs[file]
    if (!output) continue
    found.add(`ccl:${file}`)
    for (const input of Object.keys(output.inputs)) {
      const name = packageOf(input)
      if (name) found.add(name)
    }
  }

  return found
}
