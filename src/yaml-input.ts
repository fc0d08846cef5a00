// Reading YAML (and JSON, a subset of it) that people write: every error names the file, the line
// where YAML knows it, and the field. Used for policy files, cluster files and simulator scenarios.

import { parseAllDocuments, type Document } from 'yaml'
import type { z } from 'zod'
import { InputError } from './errors.ts'

export { InputError }

/** Parses every document of `text` (`---` separated) with `schema`; throws InputError naming file:line: field. */
export function parseYamlDocuments<T extends z.ZodType> (schema: T, text: string, fileName: string): Array<z.output<T>> {
  const documents = parseAllDocuments(text)
  if (!Array.isArray(documents)) return [] // an empty file: no documents
  return documents.filter((document) => document.contents !== null || document.errors.length > 0)
    .map((document) => parseDocumentWith(schema, document, text, fileName))
}

/** Parses a file that must hold exactly one document. */
export function parseYamlDocument<T extends z.ZodType> (schema: T, text: string, fileName: string): z.output<T> {
  const parsed = parseYamlDocuments(schema, text, fileName)
  if (parsed.length !== 1) throw new InputError(`${fileName}: expected one document, found ${parsed.length}`)
  return parsed[0] as z.output<T>
}

function parseDocumentWith<T extends z.ZodType> (schema: T, document: Document.Parsed, text: string, fileName: string): z.output<T> {
  const yamlError = document.errors[0]
  if (yamlError !== undefined) {
    const message = (yamlError.message.split('\n')[0] ?? 'invalid YAML').replace(/ at line \d+, column \d+:?$/, '')
    throw new InputError(`${fileName}:${yamlError.linePos?.[0].line ?? '?'}: ${message}`)
  }
  const parsed = schema.safeParse(document.toJS())
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  const path = (issue?.path ?? []) as Array<string | number>
  throw new InputError(`${fileName}${lineOf(document, path, text)}: ${path.length === 0 ? '(document)' : path.join('.')}: ${issue?.message ?? 'invalid'}`)
}

/** ":LINE" of the deepest node of `path` YAML can find, or '' when it cannot place it. */
function lineOf (document: Document.Parsed, path: ReadonlyArray<string | number>, text: string): string {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = document.getIn(path.slice(0, depth), true) as { range?: [number, number] } | undefined
    if (node?.range !== undefined) return `:${text.slice(0, node.range[0]).split('\n').length}`
  }
  return ''
}
