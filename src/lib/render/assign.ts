import type {AssignResult} from '../assign/assign.js'

/** One line saying why a task was not handed off. */
export function describeRefusal(result: Exclude<AssignResult, {outcome: 'assigned'}>): string {
  switch (result.outcome) {
    case 'delegated': {
      return `${result.task}: delegated (it has a .delegated marker); ccl reap finishes it`
    }

    case 'lost-race': {
      return `${result.task}: taken by another process first${result.where ? ` (now in ${result.where})` : ''}`
    }

    case 'refused': {
      return `${result.task}: not handed out: ${result.why}`
    }

    case 'no-free-account': {
      const why = Object.entries(result.accounts).map(([account, reason]) => `${account}: ${reason}`)
      return `${result.task}: no free account (${why.join('; ')})`
    }
  }
}
