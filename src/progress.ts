// Progress for per-item jobs, on stderr: listr2 on a terminal, one plain line per step elsewhere,
// so cron mail stays readable. Lives beside the commands, not in src/lib, because it prints.

export interface ProgressJob<T> {
  title: string
  run(progress: (line: string) => void): Promise<T>
  /** The title once done; a string starting with "FAILED" marks the task failed in listr2. */
  done(result: T): string | undefined
}

export async function runWithProgress<T>(jobs: ProgressJob<T>[], options: {tty: boolean; prefix: string}): Promise<T[]> {
  const results: T[] = []
  if (!options.tty) {
    for (const job of jobs) {
      results.push(await job.run((line) => process.stderr.write(`${options.prefix}${job.title}: ${line}\n`)))
    }

    return results
  }

  const {Listr, ListrLogger, ProcessOutput} = await import('listr2')
  // Progress belongs on stderr even when stdout is a terminal too: stdout carries results only.
  const logger = new ListrLogger({useIcons: true, processOutput: new ProcessOutput(process.stderr, process.stderr)})
  const list = new Listr(
    jobs.map((job, index) => ({
      title: job.title,
      task: async (_ctx: unknown, task: {output: string; title: string}) => {
        const result = await job.run((line) => {
          task.output = line
        })
        results[index] = result
        const title = job.done(result)
        if (title?.startsWith('FAILED')) throw new Error(`${job.title}: ${title}`)
        task.title = title ? `${job.title}: ${title}` : job.title
      },
    })),
    {
      concurrent: false,
      exitOnError: false,
      registerSignalListeners: false,
      // The caller decided on stderr being a terminal; listr2 alone would look at stdout.
      fallbackRendererCondition: false,
      rendererOptions: {logger},
    },
  )
  await list.run()
  return results
}
