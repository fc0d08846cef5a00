// report.html: a self-contained page (inline SVG, no scripts, no network) with, per step, the time until
// every node saw it or the fleet converged, the gossip traffic it caused, and the share of nodes that
// agreed on the view over the step's time; then the step table and the verdict. A pure function of the report, so it can be tested without a browser.

import type { ScenarioReport, StepReport } from './scenario.ts'

export function renderReportHtml (report: ScenarioReport): string {
  const rows = report.steps.map((step) => `<tr class="${step.ok ? '' : 'failed'}"><td>${step.index + 1}</td><td><code>${escapeHtml(step.step)}</code></td>` +
    `<td>${formatMs(step.convergedMs ?? step.effectMs)}</td><td>${formatMs(step.confirmedMs)}</td><td>${step.messages}</td><td>${(step.bytes / 1024).toFixed(0)}</td><td>${escapeHtml(step.problem ?? step.note ?? '')}</td></tr>`).join('\n')
  const verdict = report.verdict === 'pass' ? 'PASS' : `FAIL — ${escapeHtml(report.failure ?? '')}`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shoal sim report (seed ${report.seed})</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-top: 1em; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
tr.failed { background: #fdd; } .verdict { font-size: 1.3em; font-weight: bold; }
svg text { font: 11px system-ui, sans-serif; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; } .grid figure { margin: 0; } figcaption { font-size: 11px; max-width: 240px; }
</style></head><body>
<h1>shoal sim</h1>
<p>${report.nodes} nodes in one process; ${escapeHtml(describeRun(report))}. <span class="verdict">${verdict}</span></p>
<h2>Time until every node saw the step, or the fleet converged (ms)</h2>
${barChart(report.steps, (step) => step.convergedMs ?? step.effectMs ?? 0, '#3a7bd5')}
<h2>Gossip traffic per step (KB, all nodes)</h2>
${barChart(report.steps, (step) => step.bytes / 1024, '#e07b39')}
<h2>Share of live nodes publishing the most common view, over each step</h2>
<div class="grid">${report.steps.map(agreementPlot).join('\n')}</div>
<h2>Steps</h2>
<table><tr><th>#</th><th>step</th><th>ms</th><th>confirmed (ms)</th><th>messages</th><th>KB</th><th>problem or note</th></tr>
${rows}
</table>
</body></html>
`
}

/** The run's engine, seed and times: wall time, and for the virtual engine virtual time, events and the trace. */
export function describeRun (report: ScenarioReport): string {
  const wall = `${(report.wallMs / 1000).toFixed(1)} s wall, peak RSS ${report.peakRssMB} MB`
  if (report.engine !== 'virtual') return `engine libp2p, seed ${report.seed}: ${wall}`
  const events = report.events ?? 0
  return `engine virtual, seed ${report.seed}: ${(report.simulatedMs / 1000).toFixed(1)} s virtual in ${wall}; ${events} events (${Math.round(events / Math.max(report.wallMs / 1000, 0.001))}/s); trace ${report.traceHash ?? '-'}`
}

function barChart (steps: readonly StepReport[], value: (step: StepReport) => number, colour: string): string {
  const barWidth = 36
  const height = 160
  const max = Math.max(1, ...steps.map(value))
  const bars = steps.map((step, i) => {
    const barHeight = Math.round((value(step) / max) * (height - 30))
    const x = 10 + i * (barWidth + 8)
    return `<rect x="${x}" y="${height - 15 - barHeight}" width="${barWidth}" height="${barHeight}" fill="${step.ok ? colour : '#c33'}"><title>${escapeHtml(step.step)}: ${value(step).toFixed(0)}</title></rect>` +
      `<text x="${x + barWidth / 2}" y="${height - 2}" text-anchor="middle">${step.index + 1}</text>` +
      `<text x="${x + barWidth / 2}" y="${height - 18 - barHeight}" text-anchor="middle">${value(step).toFixed(0)}</text>`
  }).join('')
  return `<svg width="${20 + steps.length * (barWidth + 8)}" height="${height}" role="img">${bars}</svg>`
}

/** One step's agreement over time: a line from 0 to 100 % against the step's own duration. */
function agreementPlot (step: StepReport): string {
  const width = 240
  const height = 70
  const points = step.agreement
  const duration = Math.max(1, ...points.map(([ms]) => ms))
  const x = (ms: number): number => 30 + (ms / duration) * (width - 40)
  const y = (share: number): number => 8 + (1 - share) * (height - 24)
  const line = points.map(([ms, share]) => `${x(ms).toFixed(1)},${y(share).toFixed(1)}`).join(' ')
  return `<figure><svg width="${width}" height="${height}" role="img">` +
    `<line x1="30" y1="${y(1)}" x2="${width - 10}" y2="${y(1)}" stroke="#ddd"/><line x1="30" y1="${y(0)}" x2="${width - 10}" y2="${y(0)}" stroke="#ddd"/>` +
    `<text x="26" y="${y(1) + 4}" text-anchor="end">100%</text><text x="26" y="${y(0) + 4}" text-anchor="end">0</text>` +
    `<text x="${width - 10}" y="${height - 2}" text-anchor="end">${duration.toFixed(0)} ms</text>` +
    `<polyline fill="none" stroke="${step.ok ? '#3a7bd5' : '#c33'}" stroke-width="1.5" points="${line}"/></svg>` +
    `<figcaption>${step.index + 1}. ${escapeHtml(step.step)}</figcaption></figure>`
}

function formatMs (value: number | null): string {
  return value === null ? '' : value.toFixed(0)
}

function escapeHtml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
