/** An error that `dispatch up` reports as a plain message (no stack). */
export class UpError extends Error {
  override readonly name = "UpError";
}
