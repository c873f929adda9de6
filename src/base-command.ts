import {Command, Errors, Flags, type Interfaces} from '@oclif/core'

import {loadConfigCached} from './lib/config/cached.js'
import type {Config} from './lib/config/schema.js'
import {CclError, type ExitCode, UsageError} from './lib/errors.js'
import {describeError, logLine, logPlainJson, note, reportError, successJson} from './report.js'
import {usageMessage} from './usage.js'

export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

export {SCHEMA_VERSION} from './report.js'

/**
 * What every ccl command shares: `--config`, `--json`, loading the config, and the mapping of
 * typed errors to exit codes — which holds under `--json` too, where oclif would otherwise exit 1.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    config: Flags.string({
      description: 'config file (default: $CCL_CONFIG, then ./ccl.yaml, then ~/.config/ccl/config.yaml)',
      helpGroup: 'GLOBAL',
    }),
  }

  static override enableJsonFlag = true

  protected flags!: CommandFlags<T>
  protected args!: CommandArgs<T>
  private loadedConfig?: {ok: true; config: Config} | {ok: false; error: unknown}

  override async init(): Promise<void> {
    await super.init()
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as CommandFlags<T>
    this.args = args as CommandArgs<T>
    // Loaded here, where it may wait (the validated config comes from its cache: lib/config/cached.ts);
    // a config error is thrown only by the command that asks for the config.
    if ((this.constructor as typeof BaseCommand).usesConfig) {
      this.loadedConfig = await loadConfigCached({flag: this.flags.config, env: process.env, cwd: process.cwd()}).then(
        (config) => ({ok: true as const, config}),
        (error: unknown) => ({ok: false as const, error}),
      )
    }
  }

  /** Whether the command reads the config (cclConfig); `init` and `doctor` read it their own way. */
  static usesConfig = true

  /** The ccl config, loaded once per run (SPEC §2 search order). */
  protected cclConfig(): Config {
    if (!this.loadedConfig) throw new Error(`${this.id ?? 'this command'} reads the config but declares usesConfig = false`)
    if (!this.loadedConfig.ok) throw this.loadedConfig.error
    return this.loadedConfig.config
  }

  /** Sets the exit code of a run that still returns a result (e.g. "invalid", "needs an operator"). */
  protected setExitCode(code: ExitCode): void {
    process.exitCode = code
  }

  /** A progress or warning line: stderr, so stdout stays results only. */
  protected note(message: string): void {
    note(message)
  }

  /** A result line, as written: oclif's own log() runs it through util.format, which turns `%%` into `%`. */
  override log(message = ''): void {
    if (!this.jsonEnabled()) logLine(message)
  }

  /** Plain JSON when piped: oclif's colouring tokenizer is quadratic in the document's size. */
  override logJson(json: unknown): void {
    if (process.stdout.isTTY) super.logJson(json)
    else logPlainJson(json)
  }

  protected override toSuccessJson(result: unknown): unknown {
    return successJson(result)
  }

  override async catch(error: Error & {oclif?: {exit?: number}; code?: string}): Promise<void> {
    // `this.exit(n)` and `--help` throw ExitError: nothing to report.
    if (error.code === 'EEXIT') {
      process.exitCode = error.oclif?.exit ?? 0
      return
    }

    // oclif's own parse errors (missing or extra argument, unknown flag, flags that exclude each
    // other, a flag without its value or with a bad one) are CLIErrors: a usage error, exit 2, in one line.
    const known =
      error instanceof Errors.CLIError && !(error instanceof CclError)
        ? new UsageError(usageMessage(error), {cause: error, hint: `see: ccl ${this.id?.replaceAll(':', ' ') ?? ''} --help`})
        : error
    // A message quotes names and values (a task name may hold a newline): escaped, it stays one line.
    reportError(describeError(known), {json: this.jsonEnabled(), logJson: (json) => this.logJson(json), ...(known instanceof CclError ? {} : {stack: error.stack ?? ''})})
  }
}
