/* DOM helpers shared by every page (chat, agent console, dashboard): elements are built with text
 * content only, never from HTML strings, so taxpayer, bot and article text can never become markup. */

const SVG_NS = "http://www.w3.org/2000/svg";

/* The element with this id. */
export function byId(id) {
  return document.getElementById(id);
}

/* A new element; `text` is always set as textContent (never HTML). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/* A new SVG element with these attributes; `text` is set as textContent. */
export function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
  if (text !== undefined) node.textContent = String(text);
  return node;
}

/* Remove every child of `node`; returns `node`. */
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/* The elements matching `selector` (inside `root`, the document by default) as an array. */
export function all(selector, root) {
  return Array.prototype.slice.call((root || document).querySelectorAll(selector));
}
