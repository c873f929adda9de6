// Builds dist/ with esbuild: one ESM file per command (what oclif loads) plus shared chunks, with
// our dependencies bundled in. Why: every command starts in a fresh Node, often several times a
// minute from cron, and on Node 20 (no compile cache) resolving and compiling ~350 small module
// files cost more than the work: zod alone is 93 files and ~110 ms to import, got ~60 files and
// ~150 ms. Bundled, `ccl reap` reaches its first request ~100 ms sooner (bench/reap-status).
// Modules loaded with import() (got, listr2, execa, p-limit, debug, the atomic-write library)
// stay in chunks of their own, so a command still loads only what it uses.
// Types are checked by tsc (`npm run typecheck`, and in `npm run build`); esbuild only strips them.
import {build} from 'esbuild'
import {createHash} from 'node:crypto'
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'))

const commands = readdirSync(path.join(root, 'src/commands'), {recursive: true})
  .filter((file) => file.endsWith('.ts'))
  .map((file) => path.join('src/commands', file))
// Also built as entries of their own, for plain Node scripts that import them: the demo reads
// footers, and tests spawn writers of the event log and holders of the lock.
const libraries = ['src/lib/delegation/footer.ts', 'src/lib/events/log.ts', 'src/lib/queue/lock.ts']
// oclif loads hooks (package.json oclif.hooks) and the help class (oclif.helpClass) from dist/ like the commands.
const hooks = ['src/hooks/command-not-found.ts', 'src/help.ts']

// What the config cache (src/lib/config/cached.ts) keys on besides the file: the config sources themselves.
const configSources = [...readdirSync(path.join(root, 'src/lib/config')).sort().map((f) => path.join('src/lib/config', f)), 'src/lib/control-chars.ts'].map((f) => readFileSync(path.join(root, f)))
const configBuild = createHash('sha256').update(Buffer.concat(configSources)).digest('hex').slice(0, 16)

// node:http through require(), not import: on Node 22+ an ES import of it builds the module's ESM
// facade, which reads every export, and its lazy WebSocket/EventSource getters load all of undici
// (~33 ms of every `ccl reap` start on Node 24, bench/reap-status). got is the only importer; the
// names it imports are re-exported here (esbuild fails the build if one is missing).
const httpThroughRequire = {
  name: 'node-http-through-require',
  setup(build) {
    build.onResolve({filter: /^(node:)?http$/}, () => ({path: 'node:http', namespace: 'ccl-http'}))
    build.onLoad({filter: /.*/, namespace: 'ccl-http'}, () => ({
      contents: [
        "import {createRequire} from 'node:module'",
        "const http = createRequire(import.meta.url)('node:http')",
        'export default http',
        'export const {Agent, ClientRequest, IncomingMessage, ServerResponse, STATUS_CODES, METHODS, request, get} = http',
      ].join('\n'),
      loader: 'js',
    }))
  },
}

const common = {
  absWorkingDir: root,
  plugins: [httpThroughRequire],
  // yaml's ES module build (the one its package.json gives browsers; the same code): esbuild can drop
  // what ccl does not use and it needs no CommonJS wrappers, which cost ~5 ms a start in the CJS build.
  // Its only difference, a warning through console.warn rather than process.emitWarning, never
  // happens: ccl parses with logLevel 'error'.
  alias: {yaml: './node_modules/yaml/browser/index.js'},
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  define: {__CCL_VERSION__: JSON.stringify(pkg.version), __CCL_CONFIG_BUILD__: JSON.stringify(configBuild)},
  // CommonJS dependencies (debug) call require() and read
  // __filename; in an ES module those have to be provided.
  banner: {
    js: [
      "import {createRequire as __cclCreateRequire} from 'node:module';",
      "import {fileURLToPath as __cclFileURLToPath} from 'node:url';",
      'const require = __cclCreateRequire(import.meta.url);',
      'const __filename = __cclFileURLToPath(import.meta.url);',
      "const __dirname = __cclFileURLToPath(new URL('.', import.meta.url));",
    ].join(' '),
  },
  metafile: true,
  logLevel: 'warning',
}

const result = await build({
  ...common,
  entryPoints: [...commands, ...libraries, ...hooks].sort(),
  outdir: 'dist',
  outbase: 'src',
  splitting: true,
  // oclif loads the command classes and must see the one @oclif/core they extend.
  external: ['@oclif/core'],
  chunkNames: 'chunks/[name]-[hash]',
})

// The fast entries of the hot commands (bin/run.js imports them before oclif, src/fast/argv.ts): each
// built apart, so a start loads its entry and a chunk or two rather than ~15 shared chunks (~10 ms).
// What they load with import() (the account records, only when spill is on) stays in a chunk of its own.
for (const name of ['route', 'hook', 'statusline', 'reconcile', 'status', 'reap']) {
  const fast = await build({
    ...common,
    entryPoints: [`src/fast/${name}.ts`],
    outdir: 'dist/fast',
    splitting: true,
    chunkNames: `${name}-[name]-[hash]`,
  })
  for (const [file, output] of Object.entries(fast.metafile.outputs)) result.metafile.outputs[file] = output
}

// Which sources went into which output file: tests use it to prove a command loads no got, listr2 or execa.
writeFileSync(path.join(root, 'dist/meta.json'), JSON.stringify(result.metafile))
const outputs = Object.keys(result.metafile.outputs)
process.stdout.write(`esbuild: ${commands.length} commands, ${outputs.length} files in dist/\n`)
