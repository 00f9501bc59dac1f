/* localStorage that never throws: in private mode or with storage disabled the pages keep working
 * without remembering anything. */

/* The stored value, or null. */
export function load(key) {
  try { return window.localStorage.getItem(key); } catch (e) { return null; }
}

/* Store `value`; null or undefined removes the key. */
export function save(key, value) {
  try {
    if (value === null || value === undefined) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch (e) { /* private mode: keep going without persistence */ }
}
