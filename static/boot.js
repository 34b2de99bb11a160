// Loads the app's JS glue and wasm without an inline script (Ferry's CSP forbids them).
// Trunk writes the hashed file names into this script tag's data attributes.
const tag = document.querySelector('script[data-ferry-js]');
const { default: init } = await import(tag.dataset.ferryJs);
await init({ module_or_path: tag.dataset.ferryWasm });
