// Runs a WASI program under node's V8 (node:wasi, preview1): node node_wasi.mjs PROGRAM.wasm ARGS...
// wasi.wasiImport, not getImportObject(): Debian 12's node 18 has only the former.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv, exit } from 'node:process';

const wasi = new WASI({ version: 'preview1', args: argv.slice(2), env: {}, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(argv[2]));
const instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: wasi.wasiImport });
exit(wasi.start(instance));
