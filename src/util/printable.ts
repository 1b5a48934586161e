/**
 * Peer text made safe for a terminal and for line-based logs: a remote peer chooses its Goodbye detail, its
 * messages and more, and a control character in them could move the cursor, clear the screen, retitle the
 * terminal, forge a line or reorder text (bidi controls) in an operator's output.
 *
 * @module
 */

/** C0 and C1 controls, DEL, line and paragraph separators, and the bidi embedding, override and isolate marks. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const hex = (code: number, digits: number): string => code.toString(16).padStart(digits, "0");

/** `text` with every character of {@link UNPRINTABLE} written as `\xNN` or `\uNNNN`: one line, shown as sent. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`;
  });
}

/**
 * `json` (the output of `JSON.stringify`) with the characters of {@link UNPRINTABLE} that it leaves raw (C1
 * controls, separators, bidi marks) written as `\uNNNN` escapes: the same JSON value, safe on a terminal.
 */
export function printableJson(json: string): string {
  return json.replace(UNPRINTABLE, (c) => `\\u${hex(c.charCodeAt(0), 4)}`);
}
