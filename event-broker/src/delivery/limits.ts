/** The most events one subscription has in flight. */
export const maxConcurrency = 1000;

/** The most retries a subscription may ask for. */
export const maxRetries = 100;
