// The body of `ccl status`, shared by its oclif command and the fast entry (src/fast/status.ts).
import type {Config} from '../lib/config/schema.js'
import {EXIT_CODES} from '../lib/errors.js'
import {renderPrometheus} from '../lib/render/prometheus.js'
import {renderStatus} from '../lib/render/status.js'
import {collectStatus} from '../lib/status/collect.js'
import type {StatusReport} from '../lib/status/report.js'
import {logLine} from '../report.js'

export async function runStatus(config: Config, options: {prometheus: boolean; json: boolean}): Promise<StatusReport> {
  const report = await collectStatus(config, {now: new Date()})
  if (options.prometheus) process.stdout.write(renderPrometheus(report))
  else if (!options.json) logLine(renderStatus(report))
  if (report.needs_operator) process.exitCode = EXIT_CODES.failure
  return report
}
