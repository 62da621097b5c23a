// Records every module Node loads: `node --import ./count-modules.mjs PROGRAM ...` appends each
// module's URL (ES modules and what they import, CommonJS included) to the file named by
// EFFECT_LITESTREAM_MODULES_OUT, one per line. The hooks run on Node's loader thread, which
// writes the file itself: nothing is lost when the program exits abruptly.
import { register } from "node:module"

register("./count-modules-hooks.mjs", import.meta.url)
