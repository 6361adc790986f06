/* Texts of message signing and of the member's bounds: each names what happened and the fix. */

export const unsigned = () => 'it carries no signature, and this process requires one (natsTransport({ key }))';
export const badSignature = () => 'its signature does not match any key of this process (a forgery, or a process with another key)';
export const wrongSigner = (signer: string, from: string) => `it is signed by process ${signer} but claims to come from ${from}`;
export const replayed = (signer: string) => `it repeats an earlier message of process ${signer} (a replay)`;
export const stale = (ageMs: number, skewMs: number) =>
  `it was signed ${Math.round(ageMs / 1000)} s away from this process's clock, beyond the ${skewMs / 1000} s allowed (a replay, or clocks out of sync: run NTP)`;

export const weakKey = (min: number) => `a string of at least ${min} characters: a random secret, e.g. from \`openssl rand -base64 32\``;

export const tooLarge = (bytes: number, max: number) =>
  `it is ${bytes} bytes, above this member's budget of ${max} bytes for one message (maxMessageBytes)`;
export const tooManyValues = (max: number) =>
  `it holds more than ${max} values, above this member's budget for one message; send fewer dispatches or inputs per message`;

export const inputTooManyValues = (name: string, max: number) =>
  `Cannot send the dispatch to serving '${name}': its inputs hold more than ${max} values (every number, string, array and object counts), ` +
  'more than any process decodes from one message. Send fewer inputs at a time, or carry numeric vectors as typed arrays (a Float32Array is one value).';

export const answerTooManyValues = (max: number) =>
  `The member's answer to this dispatch holds more than ${max} values (every number, string, array and object counts), more than any process decodes from one message. ` +
  'Dispatch fewer inputs at a time, or return numeric vectors as typed arrays (a Float32Array is one value).';

export const tooManyPeers = (max: number) =>
  `it comes from a new process while ${max} are known already; it is taken in once others have gone silent (a flood of invented processes?)`;
