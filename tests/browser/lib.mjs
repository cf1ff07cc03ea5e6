// lib.mjs - what the browser tests share: ports, the vex CLI, polling.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

// The binary under test: $VEX_BIN (ctest sets it), else build/vex.
export const VEX = process.env.VEX_BIN || path.join(HERE, '..', '..', 'build', 'vex');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// freePort asks the kernel for a free loopback port.
export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

// vex runs `vex ARGS --data DATA` with `input` on stdin and returns stdout.
export function vex(args, data, input) {
    return execFileSync(VEX, [...args, '--data', data], { input, encoding: 'utf8',
                                                          stdio: ['pipe', 'pipe', 'pipe'] });
}

// eventually polls read() until it deep-equals `expected` (pages and the
// server answer asynchronously) and returns it; after `ms` it fails with what
// it last saw.
export async function eventually(read, expected, what, ms = 20000) {
    const deadline = Date.now() + ms;
    for (;;) {
        let got;
        try { got = await read(); } catch (e) { got = `error: ${e.message}`; }
        try {
            assert.deepEqual(got, expected);
            return got;
        } catch (e) {
            if (Date.now() > deadline) assert.deepEqual(got, expected, what);
        }
        await sleep(100);
    }
}
