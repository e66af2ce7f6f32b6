// Imported for its effect, before Baileys: Baileys 7 and its WebAssembly bridge read WebCrypto from
// the global `crypto`, which Node has only from 19 on; Debian 12's nodejs (18) has the same object
// as node:crypto's `webcrypto`. With it, noweb runs on Debian's Node (docs/wa-web.md, "Node").
import { webcrypto } from 'node:crypto';

if (globalThis.crypto === undefined) {
  globalThis.crypto = webcrypto;
}
