// Cold start of `ccl --version` (oclif's own start) against bare `node -e 0`.
import {BIN, report, timeSpawn} from './lib.mjs'

export default async function startup() {
  const bare = timeSpawn(process.execPath, ['-e', '0'])
  const version = timeSpawn(process.execPath, [BIN, '--version'])
  report('ccl --version (oclif)', version, 'ms', 'node -e 0', bare)
}
