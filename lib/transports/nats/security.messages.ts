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
