/* vex-sdk.mjs - the vex player SDK as an ES module with exports:
 * `import VexSDK, { track } from './vex-sdk.mjs'`. The code lives in
 * vex-sdk.js (a classic script that is also valid module code); importing it
 * for its effect defines globalThis.VexSDK, re-exported here. */
import './vex-sdk.js';

const VexSDK = globalThis.VexSDK;

export default VexSDK;
export const track = VexSDK.track;
export const Tracker = VexSDK.Tracker;
export const VERSION = VexSDK.VERSION;
export const DIMENSIONS = VexSDK.DIMENSIONS;
