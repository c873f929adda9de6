/** Longer than any payload takes to arrive; a hook run by hand with no stdin must still end. */
const STDIN_TIMEOUT_MS = 5000

/** All of stdin as text: what Claude Code gives a hook or a statusLine command. A terminal gives nothing. */
export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return ''
  const chunks: Buffer[] = []
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(), STDIN_TIMEOUT_MS)
    timer.unref()
    const finish = () => {
      clearTimeout(timer)
      process.stdin.pause()
      resolve(Buffer.concat(chunks).toString('utf8'))
    }

    process.stdin.on('data', (chunk: Buffer) => chunks.push(chunk))
    process.stdin.on('end', finish)
    process.stdin.on('error', finish)
  })
}
