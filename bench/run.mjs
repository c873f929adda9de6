// `npm run bench`: runs every bench/*.bench.mjs in name order. Numbers are ratios to a baseline taken in the same run.
import {readdirSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const only = process.argv[2]
const files = readdirSync(here).filter((f) => f.endsWith('.bench.mjs') && (!only || f.includes(only))).sort()
for (const file of files) {
  console.log(`\n== ${file}`)
  const mod = await import(pathToFileURL(path.join(here, file)).href)
  await mod.default()
}
