// SPDX-License-Identifier: MIT
// The postgrest-js side of bench/run.sh: inserts the same generated `users` rows as pgrestify_bench,
// in batches of --batch-size with at most --concurrency requests in flight, and prints one JSON line
// (wall time and client CPU of the inserts alone; peak RSS of the whole process).
//   node bench/postgrest-js-insert.mjs --rows 100000 --batch-size 1000 --concurrency 4
// Server: PGRESTIFY_TEST_URL and PGRESTIFY_TEST_JWT (scripts/testenv.sh's env file).
import { PostgrestClient } from '@supabase/postgrest-js'

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, v, i, a) => (i % 2 === 0 ? [...acc, [v.replace(/^--/, ''), a[i + 1]]] : acc), []),
)
const rows = Number(args.rows ?? 1000)
const batchSize = Number(args['batch-size'] ?? 1000)
const concurrency = Number(args.concurrency ?? 4)
const url = process.env.PGRESTIFY_TEST_URL
if (!url) throw new Error('set PGRESTIFY_TEST_URL')
const headers = process.env.PGRESTIFY_TEST_JWT ? { Authorization: `Bearer ${process.env.PGRESTIFY_TEST_JWT}` } : {}
const client = new PostgrestClient(url, { headers })

// Same rows, same key order as pgrestify_bench's NewUser (nlohmann sorts keys; PostgREST does not care).
const roles = ['user', 'admin', 'guest']
const users = new Array(rows)
for (let i = 0; i < rows; i++) {
  users[i] = { active: i % 5 !== 0, email: `user${i}@example.com`, name: `user ${i}`, role: roles[i % 3] }
}

const cpu0 = process.cpuUsage()
const t0 = process.hrtime.bigint()
let next = 0
let successful = 0
let failed = 0
let requests = 0
let firstError
async function worker() {
  for (;;) {
    const start = next
    if (start >= rows) return
    next += batchSize
    const batch = users.slice(start, Math.min(rows, start + batchSize))
    requests++
    const { error } = await client.from('users').insert(batch)
    if (error) {
      failed += batch.length
      firstError ??= error.message
    } else {
      successful += batch.length
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker))
const wall = Number(process.hrtime.bigint() - t0) / 1e9
const cpu = process.cpuUsage(cpu0)
const out = {
  client: 'postgrest-js',
  op: 'insert',
  rows,
  batch_size: batchSize,
  concurrency,
  wall_s: wall,
  rows_per_s: Math.round(rows / wall),
  cpu_s: (cpu.user + cpu.system) / 1e6,
  user_s: cpu.user / 1e6,
  sys_s: cpu.system / 1e6,
  maxrss_kb: process.resourceUsage().maxRSS,
  successful,
  failed,
  requests,
}
console.log(JSON.stringify(out))
if (firstError) console.error(`first error: ${firstError}`)
process.exitCode = failed === 0 && successful === rows ? 0 : 1
