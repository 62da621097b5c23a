/**
 * The seed itself as the peer: pylts 0.0.9 from PyPI, in a virtualenv of its own
 * (`.peers/pylts/`, gitignored; made here on first use, with the versions below), run as its
 * users run it: `python -m pylts aws-replicate-db SECONDS` / `aws-restore-db`, from a folder
 * whose `.env` holds the settings, litestream found on PATH. Timed from the outside.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))
export const VENV = path.join(root, ".peers/pylts")
const PYTHON = path.join(VENV, "bin/python")

/** pylts and what it needs, pinned: pydantic 1.x (pylts uses `BaseSettings` from pydantic 1). */
export const REQUIREMENTS = ["pylts==0.0.9", "pydantic==1.10.27", "loguru==0.6.0", "python-dotenv==1.2.4", "click==8.5.1"]

/** The virtualenv's python, made (python3 -m venv, pip install) when missing; or why it cannot run. */
export const ensure = (log: (message: string) => void): { python: string } | { error: string } => {
  try {
    if (!fs.existsSync(PYTHON)) {
      log(`pylts: making ${path.relative(root, VENV)} (${REQUIREMENTS.join(" ")})`)
      execFileSync("python3", ["-m", "venv", VENV], { stdio: "ignore" })
      execFileSync(PYTHON, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", ...REQUIREMENTS], {
        stdio: ["ignore", "ignore", "pipe"],
        timeout: 300_000
      })
    }
    const version = execFileSync(PYTHON, ["-c", "import pylts; print(pylts.__version__)"], { encoding: "utf8" }).trim()
    if (version !== "0.0.9") return { error: `pylts ${version} in ${VENV}, not 0.0.9` }
    return { python: PYTHON }
  } catch (e) {
    return { error: `cannot install pylts (${e instanceof Error ? e.message.split("\n")[0] : String(e)})` }
  }
}

export interface Settings {
  readonly folder: string
  readonly db: string
  readonly replicaUrl: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
}

/**
 * The `.env` pylts reads from its working folder (pydantic `BaseSettings`: `key`, `token` and `s3`
 * under litestream's names, `folder` and `db` under their own; pydantic ignores the rest).
 */
export const writeEnv = (cwd: string, s: Settings): void =>
  fs.writeFileSync(
    path.join(cwd, ".env"),
    `LITESTREAM_ACCESS_KEY_ID=${s.accessKeyId}\nLITESTREAM_SECRET_ACCESS_KEY=${s.secretAccessKey}\nREPLICA_URL=${s.replicaUrl}\nFOLDER=${s.folder}\nDB=${s.db}\n` +
      // the same settings under effect-litestream's names, which the program reads from the same file
      `DB_FOLDER=${s.folder}\nDB_SQLITE=${s.db}\n`
  )

/**
 * The environment of a pylts run: PATH with litestream's folder first; with `exported`, the
 * credentials too, as pylts' docstrings tell its users to do (`export LITESTREAM_ACCESS_KEY_ID=...`):
 * pylts reads them from `.env` but never hands them to litestream.
 */
export const env = (binary: string, s: Settings, exported: boolean): Record<string, string> => ({
  PATH: `${path.dirname(binary)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
  ...(exported ? { LITESTREAM_ACCESS_KEY_ID: s.accessKeyId, LITESTREAM_SECRET_ACCESS_KEY: s.secretAccessKey } : {})
})

/** The files a run left in `folder`, besides `.env`. */
export const leftBehind = (folder: string): Array<string> =>
  fs.readdirSync(folder).filter((f) => f !== ".env").sort()
