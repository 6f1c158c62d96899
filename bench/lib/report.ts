// Helpers every suite's report uses: number formatting and a one-line ffprobe summary.
import { execFileSync } from 'node:child_process'

/** `v` with `digits` decimals, or an en dash when it is not a number. */
export function fmt(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '–'
}

/**
 * What ffprobe sees in `file`, as one line: `h264 1280×720 + aac`, with `, 15.1 s` when
 * `withDuration`; `ffprobe failed: …` when it cannot read it.
 */
export function ffprobeSummary(file: string, withDuration = false): string {
  try {
    const entries = withDuration ? 'stream=codec_name,width,height:format=duration' : 'stream=codec_name,width,height'
    const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', entries, '-of', 'json', file], { encoding: 'utf8', timeout: 10_000 })
    const info = JSON.parse(out) as { streams?: Array<{ codec_name?: string; width?: number; height?: number }>; format?: { duration?: string } }
    const streams = (info.streams ?? []).map((s) => (s.width ? `${s.codec_name} ${s.width}×${s.height}` : `${s.codec_name}`)).join(' + ') || 'no streams'
    if (!withDuration) return streams
    const d = Number(info.format?.duration)
    return `${streams}, ${Number.isFinite(d) ? `${d.toFixed(1)} s` : 'no duration'}`
  } catch (err) {
    return `ffprobe failed: ${(err as Error).message.split('\n')[0]}`
  }
}
