// `node --import ./record-imports.mjs ...`: appends the URL of every module the process resolves
// (ESM imports, and CommonJS reached through them) to $CCL_IMPORT_LOG, one a line.
// Used to prove a command does not load a heavy dependency.
import {register} from 'node:module'

register('./record-imports-hooks.mjs', import.meta.url, {data: {log: process.env.CCL_IMPORT_LOG}})
