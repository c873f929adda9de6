// Cold start of `ccl --version` against bare `node -e 0`, on this machine's Node and on Node 24.
import {BIN, node24, report, timeSpawn} from './lib.mjs'

export default async function startup() {
  const nodes = [['node ' + process.version, process.execPath]]
  const n24 = node24()
  if (n24) nodes.push(['node 24', n24])
  for (const [label, node] of nodes) {
    const bare = timeSpawn(node, ['-e', '0'])
    const version = timeSpawn(node, [BIN, '--version'])
    report(`ccl --version (${label})`, version, 'ms', 'node -e 0', bare)
  }
}
