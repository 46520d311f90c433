import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/** Encrypts and decrypts secret payloads (AES-256-GCM, a fresh nonce per write). */
export interface Sealer {
  seal(plaintext: Uint8Array, associated: string): Uint8Array;
  open(sealed: Uint8Array, associated: string): Uint8Array;
}

const VERSION = 1;
const NONCE = 12;
const TAG = 16;

/**
 * A sealer with a 32-byte key. The associated data (the object's key) is
 * authenticated, so a sealed value copied to another key does not open.
 *
 * Format: version (1 byte) | nonce (12) | ciphertext | tag (16).
 */
export function createSealer(key: Uint8Array): Sealer {
  if (key.length !== 32) throw new Error(`the secret encryption key must be 32 bytes, not ${key.length}`);
  return {
    seal(plaintext, associated) {
      const nonce = randomBytes(NONCE);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(Buffer.from(associated));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([Buffer.of(VERSION), nonce, body, cipher.getAuthTag()]);
    },
    open(sealed, associated) {
      if (sealed.length < 1 + NONCE + TAG || sealed[0] !== VERSION) {
        throw new Error("sealed secret has an unknown format");
      }
      const nonce = sealed.subarray(1, 1 + NONCE);
      const tag = sealed.subarray(sealed.length - TAG);
      const decipher = createDecipheriv("aes-256-gcm", key, nonce);
      decipher.setAAD(Buffer.from(associated));
      decipher.setAuthTag(tag);
      return Buffer.concat([
        decipher.update(sealed.subarray(1 + NONCE, sealed.length - TAG)),
        decipher.final(),
      ]);
    },
  };
}

/**
 * Parses the key from DISPATCH_SECRET_KEY-style text: 32 bytes as base64 or hex.
 * Throws with a message that says how to make a valid key.
 */
export function parseSecretKey(text: string): Uint8Array {
  const trimmed = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, "hex")
    : Buffer.from(trimmed, "base64");
  if (bytes.length !== 32) {
    throw new Error(
      `the secret encryption key must be 32 bytes (base64 or hex); got ${bytes.length}. Make one with: openssl rand -base64 32`,
    );
  }
  return bytes;
}
