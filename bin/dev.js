#!/usr/bin/env node
// Same entry as run.js; kept for oclif's conventions (`bin/dev.js CMD` runs the built dist/).
import './run.js'
