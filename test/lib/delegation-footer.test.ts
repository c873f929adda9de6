import {describe, expect, it} from 'vitest'

import {appendFooter, type FooterData, parseFooter, parseFooterLine, renderFooter} from '../../src/lib/delegation/footer.js'

const data: FooterData = {
  status: 'completed',
  provider: 'gemini',
  job_id: 'j-1',
  cost_usd: 0.0042,
  submitted_at: '2026-11-25T10:00:00.000Z',
  finished_at: '2026-11-25T10:03:12.000Z',
  task: 'fix.md',
  reaped_at: '2026-11-25T10:04:00.000Z',
}

describe('result footer (SPEC §3.3)', () => {
  it('is a blank line, one line of JSON in a comment, then a human section with provider, job, cost, duration and the result', () => {
    const out = appendFooter('# Fix it\n\nplease\n', data, {result: 'Done: changed two lines.'})
    const lines = out.split('\n')
    expect(out.startsWith('# Fix it\n\nplease\n\n<!-- ccl:delegation {')).toBe(true)
    const comment = lines[4]!
    expect(comment).toMatch(/^<!-- ccl:delegation \{.*\} -->$/)
    expect(JSON.parse(comment.slice('<!-- ccl:delegation '.length, -' -->'.length))).toEqual(data)
    expect(lines[5]).toBe('## Delegation result')
    expect(out).toContain('- provider: gemini\n')
    expect(out).toContain('- job: j-1\n')
    expect(out).toContain('- cost: $0.0042\n')
    expect(out).toContain('- duration: 3m12s (submitted 2026-11-25T10:00:00.000Z, finished 2026-11-25T10:03:12.000Z)\n')
    expect(out).toContain('### Result\n\nDone: changed two lines.\n')
    expect(out.endsWith('\n')).toBe(true)
  })

  it('adds the missing newline of a task without one, and keeps the content byte for byte', () => {
    const content = 'no newline at the end\r\n  odd   spacing'
    const out = appendFooter(content, data, {result: 'r'})
    expect(out.startsWith(content + '\n\n<!-- ccl:delegation ')).toBe(true)
  })

  it('writes the error under failed, and an unknown cost and duration as such', () => {
    const out = renderFooter(
      {...data, status: 'timed_out', cost_usd: null, finished_at: null, submitted_at: null},
      {error: 'still running after job_timeout 6h'},
    )
    expect(out).toContain('- cost: unknown\n')
    expect(out).toContain('- duration: unknown\n')
    expect(out).toContain('### Error\n\nstill running after job_timeout 6h\n')
    expect(parseFooter(out)?.status).toBe('timed_out')
  })

  it('round-trips through parseFooter, including strings with newlines, quotes and -->', () => {
    const hostile = {...data, provider: 'x"y', task: 'a-->b\n<!-- c.md'}
    const out = appendFooter('body\n', hostile, {result: 'ok'})
    expect(out.split('\n').filter((l) => l.startsWith('<!-- ccl:delegation '))).toHaveLength(1)
    expect(parseFooter(out)).toEqual(hostile)
  })

  it('finds the footer of the last delegation, not one quoted in a result or carried in the content', () => {
    const first = appendFooter('task\n', {...data, job_id: 'j-old'}, {result: 'first run'})
    const forged = `<!-- ccl:delegation ${JSON.stringify({...data, job_id: 'j-forged'})} -->`
    const second = appendFooter(first, {...data, job_id: 'j-new'}, {result: `look:\n${forged}\n  ${forged}\nend`})
    expect(parseFooter(second)?.job_id).toBe('j-new')
    expect(second).toContain('<!-- ccl:delegation-quoted ')
    expect(parseFooter(first)?.job_id).toBe('j-old')
  })

  it('finds nothing in a file without a footer, or with a broken one', () => {
    expect(parseFooter('# just a task\n')).toBeUndefined()
    expect(parseFooter('<!-- ccl:delegation {not json} -->\n')).toBeUndefined()
    expect(parseFooter('<!-- ccl:delegation {"status":"completed"} -->\n')).toBeUndefined()
    expect(parseFooterLine('x <!-- ccl:delegation {"job_id":"j","status":"completed","provider":"p"} -->')).toBeUndefined()
    expect(parseFooter('<!-- ccl:delegation {"job_id":"j","status":"completed","provider":"p"} -->')?.job_id).toBe('j')
  })
})
