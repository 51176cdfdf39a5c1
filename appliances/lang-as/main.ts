// Reads its args, its environment and a file: AssemblyScript with its WASI shim, whose
// `process` and `console` cover args, env and output, and whose bindings reach the rest of
// WASI (a file: path_open on the preopened "/", descriptor 3, then fd_read).
import { fd_close, fd_read, path_open, rights } from "@assemblyscript/wasi-shim/assembly/bindings/wasi_snapshot_preview1";

const PREOPENED_ROOT = 3;

function readFile(path: string): string | null {
  const name = String.UTF8.encode(path.substring(1));     // relative to "/"
  const fd = memory.data(4);
  if (path_open(PREOPENED_ROOT, 0, changetype<usize>(name), name.byteLength, 0,
                rights.FD_READ, 0, 0, fd) != 0)
    return null;
  const chunk = new ArrayBuffer(4096);
  const iov = memory.data(8);
  const count = memory.data(4);
  let text = "";
  while (true) {
    store<u32>(iov, changetype<usize>(chunk));
    store<u32>(iov, chunk.byteLength, 4);
    if (fd_read(load<u32>(fd), iov, 1, count) != 0 || load<u32>(count) == 0)
      break;
    text += String.UTF8.decode(chunk.slice(0, load<u32>(count)));
  }
  fd_close(load<u32>(fd));
  return text;
}

const greeting = process.env.has("GREETING") ? process.env.get("GREETING") : "Hi";
console.log(greeting + " from AssemblyScript: " + process.argv.join(" "));

const motd = readFile("/etc/motd");
if (motd === null) {
  console.error("/etc/motd: cannot open");
  process.exit(1);
}
const lines = motd!.split("\n");
for (let i = 0; i < lines.length; i++)
  if (lines[i].length > 0)
    console.log("/etc/motd: " + lines[i]);
