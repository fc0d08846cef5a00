// The errors that reach a user as one line (no stack trace): a bad input file (InputError, with
// file:line: field) and a client command that cannot do what was asked (CliError). Kept apart from
// the code that throws them so that the CLI's entry point can tell them apart without loading it.

export class InputError extends Error {
  override readonly name = 'InputError'
}

export class CliError extends Error {
  override readonly name = 'CliError'
}
