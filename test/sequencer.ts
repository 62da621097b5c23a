/**
 * vitest's file order: the files that take longest first (measured in CI runs, seconds on 2
 * cores), then vitest's own order. Without a cache of earlier runs (CI's fresh clone) vitest
 * starts the largest files first, and the heartbeat test, small but a minute long (a real ping
 * after the 1 minute minimum interval), started near the end and held one worker while the
 * other had run dry.
 */
import { BaseSequencer, type TestSpecification } from "vitest/node"

const SLOW: ReadonlyArray<string> = [
  "test/cli/heartbeat.test.ts", // 72 s, mostly waiting
  "test/faults/data-safety.test.ts", // 66 s
  "test/integration/both-lines.test.ts", // 65 s
  "test/faults/delete-local.test.ts", // 57 s
  "test/integration/native-v5-restore.test.ts", // 57 s
  "test/integration/native-restore.test.ts", // 42 s
  "test/cli/delete-local.test.ts", // 41 s
  "test/faults/s3.test.ts" // 35 s
]

const rank = (spec: TestSpecification) => {
  const i = SLOW.findIndex((file) => spec.moduleId.endsWith(file))
  return i === -1 ? SLOW.length : i
}

export default class SlowFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const rest = await super.sort(files.filter((f) => rank(f) === SLOW.length))
    return [...files.filter((f) => rank(f) < SLOW.length).sort((a, b) => rank(a) - rank(b)), ...rest]
  }
}
