// Policy files as operators write them (YAML or JSON, one or more documents, or a list), turned into
// the PolicySpecs that get signed. The file form is friendlier than the record form:
//
//   kind: Service                 kind: Node                  kind: Admission
//   name: web                     name: <peer id>             name: <peer id>
//   replicas: 3 | all             drain: true
//   selector: {role: web}         cordon: true
//   spread: zone                  labels: {zone: b}
//   slots: 1
//   process: {command, args, env, cwd, envFiles: {DB_PASSWORD: db-password},  # (DATA/secrets/db-password)
//             user: www-data, group: www-data}                                 # (a daemon running as root) or
//   file: {path, content, mode: "0644"}
//   update: {maxUnavailable: 1 | "25%", minHealthyFor: 5s,    # how a spec change rolls out
//            healthyDeadline: 5m, autoRevert: true, canary: 1,
//            maxSurge: 1 | "25%", moveDeadline: 5m}            # extra replicas while it does; how a moved one hands over
//   partition: majority            # during a split, run only where most nodes are (default: available)
//
// `mode` is an octal string: YAML 1.2 reads a bare 0644 as the decimal number 644, a silent trap.
// Every error names the file, the line and the field (yaml-input.ts) and nothing is applied.

import { z } from 'zod'
import type { PolicySpec, UpdateSettings, WorkloadSpec } from '../core/index.ts'
import { parseDuration } from '../cli/values.ts'
import { accountNameSchema, envFilesSchema, healthCheckSchema } from '../actuators/process.ts'
import { admissionSchema, nodeSettingsSchema, policySpecSchema, recordLimits } from '../net/codec.ts'
import { InputError, parseYamlDocuments } from '../yaml-input.ts'

const processSchema = z.strictObject({
  command: z.string().min(1).max(4_096),
  args: z.array(z.string().max(65_536)).max(1_024).optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), z.string().max(65_536)).optional(),
  cwd: z.string().max(4_096).optional(),
  health: healthCheckSchema.optional(),
  envFiles: envFilesSchema.optional(),
  user: accountNameSchema.optional(),
  group: accountNameSchema.optional(),
})

const fileSchema = z.strictObject({
  path: z.string().min(1).max(4_096),
  content: z.string().max(1024 * 1024),
  mode: z.string().regex(/^0?[0-7]{3,4}$/, 'must be an octal string like "0644"')
    .refine((mode) => Number.parseInt(mode, 8) <= 0o777, 'setuid, setgid and sticky bits are refused').optional(),
})

/** A duration as written in a file (500ms, 30s, 2m) or a number of milliseconds. */
const fileDuration = z.unknown().transform((value, context) => {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value
  try {
    if (typeof value === 'string') return parseDuration(value)
  } catch {}
  context.addIssue({ code: 'custom', message: 'must be a duration like 500ms, 30s or 2m (or a number of milliseconds)' })
  return z.NEVER
})

// Bounds are the record schema's (codec.ts); the file form only names durations as durations.
const updateFileSchema = z.strictObject({
  maxUnavailable: z.union([z.number(), z.string()]).optional(),
  minHealthyFor: fileDuration.optional(),
  maxSurge: z.union([z.number(), z.string()]).optional(),
  moveDeadline: fileDuration.optional(),
  healthyDeadline: fileDuration.optional(),
  autoRevert: z.boolean().optional(),
  canary: z.number().optional(),
})

const serviceFileSchema = z.strictObject({
  kind: z.literal('Service'),
  name: z.string(),
  replicas: z.union([z.number().int().nonnegative().max(recordLimits.replicasMax), z.literal('all')], { error: 'must be a whole number or "all"' }),
  selector: z.record(z.string(), z.string()).optional(),
  spread: z.string().optional(),
  slots: z.number().int().positive().optional(),
  process: processSchema.optional(),
  file: fileSchema.optional(),
  update: updateFileSchema.optional(),
  partition: z.enum(['available', 'majority'], { error: 'must be "available" (run on every side of a split) or "majority" (only where most nodes are)' }).optional(),
}).superRefine((service, context) => {
  if ((service.process === undefined) === (service.file === undefined)) {
    context.addIssue({ code: 'custom', message: 'a Service needs exactly one of process or file', path: ['process'] })
  }
})

const documentSchema = z.unknown().transform((value, context): PolicySpec => {
  const kind = typeof value === 'object' && value !== null && 'kind' in value ? (value as { kind: unknown }).kind : undefined
  const schema = kind === 'Service' ? serviceFileSchema : kind === 'Node' ? nodeSettingsSchema : kind === 'Admission' ? admissionSchema : undefined
  if (schema === undefined) {
    context.addIssue({ code: 'custom', message: 'must be Service, Node or Admission', path: ['kind'] })
    return z.NEVER
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) {
    for (const issue of parsed.error.issues) context.addIssue({ code: 'custom', message: issue.message, path: issue.path })
    return z.NEVER
  }
  // The record schema has the last word (names, bounds), so a file cannot pass here and fail on the wire.
  const spec = parsed.data.kind === 'Service' ? serviceSpecOf(parsed.data as z.output<typeof serviceFileSchema>) : parsed.data
  const checked = policySpecSchema.safeParse(spec)
  if (!checked.success) {
    const issue = checked.error.issues[0]
    const path = issue?.path ?? []
    // The record's `workload` is the file's `process` or `file`.
    const filePath = path[0] === 'workload'
      ? [(value as object) !== null && 'process' in (value as object) ? 'process' : 'file', ...path.slice(1)]
      : path[0] === 'update' && typeof path[1] === 'string' && path[1].endsWith('Ms') ? ['update', path[1].slice(0, -2)] : path
    context.addIssue({ code: 'custom', message: issue?.message ?? 'invalid', path: filePath })
    return z.NEVER
  }
  return checked.data as PolicySpec
})

function serviceSpecOf (service: z.output<typeof serviceFileSchema>): PolicySpec {
  const workload = (service.process !== undefined
    ? { kind: 'process', ...service.process }
    : { kind: 'file', path: service.file?.path ?? '', content: service.file?.content ?? '', ...(service.file?.mode === undefined ? {} : { mode: Number.parseInt(service.file.mode, 8) }) }) as WorkloadSpec
  return {
    kind: 'Service',
    name: service.name,
    replicas: service.replicas,
    selector: service.selector ?? {},
    ...(service.spread === undefined ? {} : { spread: service.spread }),
    slots: service.slots ?? 1,
    workload,
    ...(service.update === undefined ? {} : { update: updateOf(service.update) }),
    ...(service.partition === undefined ? {} : { partition: service.partition }),
  }
}

function updateOf (update: z.output<typeof updateFileSchema>): UpdateSettings {
  return {
    ...(update.maxUnavailable === undefined ? {} : { maxUnavailable: update.maxUnavailable }),
    ...(update.minHealthyFor === undefined ? {} : { minHealthyForMs: update.minHealthyFor }),
    ...(update.maxSurge === undefined ? {} : { maxSurge: update.maxSurge }),
    ...(update.moveDeadline === undefined ? {} : { moveDeadlineMs: update.moveDeadline }),
    ...(update.healthyDeadline === undefined ? {} : { healthyDeadlineMs: update.healthyDeadline }),
    ...(update.autoRevert === undefined ? {} : { autoRevert: update.autoRevert }),
    ...(update.canary === undefined ? {} : { canary: update.canary }),
  }
}

/** A document is one policy or a list of them; an error's path starts at the policy's own field. */
const fileDocumentSchema = z.unknown().transform((value, context): PolicySpec[] => {
  const items = Array.isArray(value) ? value : [value]
  const policies: PolicySpec[] = []
  items.forEach((item, index) => {
    const parsed = documentSchema.safeParse(item)
    if (parsed.success) policies.push(parsed.data)
    else for (const issue of parsed.error.issues) context.addIssue({ code: 'custom', message: issue.message, path: Array.isArray(value) ? [index, ...issue.path] : issue.path })
  })
  return policies
})

/** Every policy in a file's text; throws InputError naming file:line: field on the first problem. */
export function parsePolicyFile (text: string, fileName: string): PolicySpec[] {
  const policies = parseYamlDocuments(fileDocumentSchema, text, fileName).flat()
  if (policies.length === 0) throw new InputError(`${fileName}: no policies in it`)
  const seen = new Set<string>()
  for (const policy of policies) {
    const key = `${policy.kind}/${policy.name}`
    if (seen.has(key)) throw new InputError(`${fileName}: ${key} appears twice`)
    seen.add(key)
  }
  return policies
}
